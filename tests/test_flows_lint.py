"""`trunkguard flows lint`: the shipped flow is clean, each fixture's one problem is found where it is,
and a file that is not a flow is refused with exit 2 and the reason."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trunkguard.cli import app
from trunkguard.config import load_config
from trunkguard.flows.document import FlowUnreadable, parse_flow, read_flow
from trunkguard.flows.lint import RULES, LintContext, lint
from trunkguard.rules import lint_words

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "deploy" / "genesys" / "flows" / "trunkguard-routing-matrix.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "flows"
BYOC = ROOT / "examples" / "genesys-byoc.yaml"
NO_ENV = {"TRUNKGUARD_CONFIG": None}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["flows", "lint", *args], env=NO_ENV)
    return result.exit_code, result.output


def findings_of(path: Path, **kwargs: object) -> list[tuple[str, str, int | None]]:
    words, tables = lint_words(load_config(BYOC))
    ctx = LintContext.build(words=words, tables=[*kwargs.pop("tables", []), *tables], **kwargs)  # type: ignore[arg-type]
    return [(f.rule, f.path, f.line) for f in lint(read_flow(path), ctx)]


def test_the_shipped_flow_is_clean_with_and_without_the_config() -> None:
    code, out = run(str(FLOW))
    assert code == 0, out
    assert "clean (inboundCall)" in out
    code, out = run("--config", str(BYOC), "--table", "{{datatable_name}}", "--json", str(FLOW))
    assert code == 0, out
    assert json.loads(out)["files"][0]["findings"] == []


# fixture -> (rule, the text on the line the finding names)
CASES = {
    "hardcoded_trunk.yaml": [("hardcoded-trunk", 'Flow.Route == "carrier-a-sbc1"'),
                             ("hardcoded-trunk", "lit: 4c1a7f0e-0000-4000-8000-00000000000a")],
    "trunk_variable.yaml": [("trunk-variable", "system.trunk.group.name")],
    "sip_header_action.yaml": [("sip-header", "- getSipHeaders:")],
    "sip_header_expression.yaml": [("sip-header", '"X-Carrier-Route"')],
    "dtmf_method.yaml": [("dtmf-method", 'Flow.DtmfMethod == "RFC 2833"')],
    "no_failover_branch.yaml": [("no-failover-branch", "- dataTableLookup:")],
    "no_lookup.yaml": [("no-failover-branch", "inboundCall:")],
    "lookup_no_failure_path.yaml": [("lookup-no-failure-path", "- dataTableLookup:")],
    "export_lookup_no_failure_path.json": [("lookup-no-failure-path", '"__type": "DataTableLookupAction"')],
    "export_sip_headers.json": [("sip-header", '"__type": "GetSipHeadersAction"')],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_fixture_is_found_at_its_line_and_nothing_else(name: str) -> None:
    path = FIXTURES / name
    lines = path.read_text().splitlines()
    words, tables = lint_words(load_config(BYOC))
    found = lint(read_flow(path), LintContext.build(words=words, tables=tables))
    assert [f.rule for f in found] == [rule for rule, _ in CASES[name]]
    for finding, (_, text) in zip(found, CASES[name], strict=True):
        assert finding.line is not None and finding.column is not None
        assert text in lines[finding.line - 1], (finding, lines[finding.line - 1])
        assert finding.path.startswith(("inboundCall", "flowSequenceItemList"))


def test_the_cli_names_file_line_column_rule_and_path_and_exits_1() -> None:
    code, out = run("--config", str(BYOC), str(FIXTURES / "trunk_variable.yaml"))
    assert code == 1
    assert f"{FIXTURES / 'trunk_variable.yaml'}:57:22: trunk-variable: system.trunk.group.name:" in out
    assert "at inboundCall.tasks[0].task.actions[2].decision.condition.exp" in out
    code, out = run("--json", str(FIXTURES / "lookup_no_failure_path.yaml"))
    assert code == 1
    report = json.loads(out)
    [finding] = report["files"][0]["findings"]
    assert report["ok"] is False and report["findings"] == 1
    assert finding["rule"] == "lookup-no-failure-path"
    assert finding["path"] == "inboundCall.tasks[0].task.actions[0].dataTableLookup"
    assert "no failure path" in finding["message"] and "notFound" not in finding["message"]


def test_trunk_names_come_from_the_config_or_trunk_and_are_not_found_without_them() -> None:
    path = FIXTURES / "hardcoded_trunk.yaml"
    assert lint(read_flow(path), LintContext()) == []
    by_flag = lint(read_flow(path), LintContext.build(trunks=["carrier-a-sbc1"]))
    assert [(f.rule, f.line) for f in by_flag] == [("hardcoded-trunk", 58)]
    code, _ = run("--trunk", "carrier-a-sbc1", str(path))
    assert code == 1


def test_a_trunk_name_inside_a_longer_word_is_not_a_finding(tmp_path: Path) -> None:
    flow = (FIXTURES / "hardcoded_trunk.yaml").read_text().replace('"carrier-a-sbc1"', '"carrier-a-sbc12"')
    flow = flow.replace("lit: 4c1a7f0e-0000-4000-8000-00000000000a", "lit: secondary")
    (tmp_path / "f.yaml").write_text(flow)
    assert findings_of(tmp_path / "f.yaml") == []


def test_a_table_given_by_name_is_trunkguards_even_without_an_activecarrier_column(tmp_path: Path) -> None:
    flow = (FIXTURES / "lookup_no_failure_path.yaml").read_text()
    flow = flow.replace("CarrierFailover:", "Flags:").replace("activeCarrier:", "carrier:")
    (tmp_path / "f.yaml").write_text(flow)
    assert findings_of(tmp_path / "f.yaml") == [
        ("no-failover-branch", "inboundCall", 3)]  # not ours: never reads trunkguard's row
    rules = [rule for rule, _, _ in findings_of(tmp_path / "f.yaml", tables=["Flags"])]
    assert rules == ["lookup-no-failure-path", "no-failover-branch"]  # ours, and no activeCarrier kept


def test_the_shipped_flow_is_clean_only_because_of_its_failure_path_and_branches(tmp_path: Path) -> None:
    text = FLOW.read_text()
    start = text.index("                failure:\n                  actions:\n                    - updateData:")
    end = text.index("          # 3. The standard path.")
    (tmp_path / "no_failure.yaml").write_text(text[:start] + text[end:])
    assert [r for r, _, _ in findings_of(tmp_path / "no_failure.yaml")] == ["lookup-no-failure-path"]
    no_branch = text.replace('exp: Task.ActiveCarrier == "primary"', 'exp: Call.Ani == "x"')
    no_branch = no_branch.replace('exp: Task.ActiveCarrier == "secondary"', 'exp: Call.Ani == "y"')
    (tmp_path / "no_branch.yaml").write_text(no_branch)
    assert [r for r, _, _ in findings_of(tmp_path / "no_branch.yaml")] == ["no-failover-branch"]


def test_ignore_skips_a_rule_and_an_unknown_rule_is_a_usage_error() -> None:
    code, out = run("--ignore", "trunk-variable", str(FIXTURES / "trunk_variable.yaml"))
    assert code == 0, out
    code, out = run("--ignore", "trunk-names", str(FIXTURES / "trunk_variable.yaml"))
    assert code == 2
    assert "--ignore trunk-names: no such rule" in out and ", ".join(RULES) in out


def test_an_architect_export_file_is_decoded_and_linted_like_its_json() -> None:
    encoded = FIXTURES / "export_lookup_no_failure_path.i3InboundFlow"
    plain = json.loads((FIXTURES / "export_lookup_no_failure_path.json").read_text())
    decoded = json.loads(urllib.parse.unquote(base64.b64decode(encoded.read_text()).decode()))
    assert decoded == plain
    doc = read_flow(encoded)
    assert doc.decoded and doc.kind == "export-json" and doc.flow_type == "inboundcall"
    assert [(f.rule, f.path) for f in lint(doc, LintContext())] == \
        [("lookup-no-failure-path", "flowSequenceItemList[0].actionList[0]")]
    code, out = run("--json", str(encoded))
    assert code == 1 and json.loads(out)["files"][0]["decoded"] is True
    assert lint(read_flow(FIXTURES / "export_clean.json"), LintContext()) == []


def test_the_configs_datatable_id_names_trunkguards_table_in_an_export(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "export_lookup_no_failure_path.json").read_text())
    data["flowSequenceItemList"][0]["actionList"][0]["outputs"] = []  # no activeCarrier binding to go by
    (tmp_path / "e.json").write_text(json.dumps(data))
    assert [f.rule for f in lint(read_flow(tmp_path / "e.json"), LintContext())] == ["no-failover-branch"]
    rules = [rule for rule, _, _ in findings_of(tmp_path / "e.json")]  # datatable_id 9a1c...0003 in the config
    assert rules == ["lookup-no-failure-path"]  # the decision's "secondary" counts as the branch


@pytest.mark.parametrize(("name", "where", "reason"), [
    ("empty.yaml", "", "is empty: expected Archy YAML or an Architect export (JSON)"),
    ("broken.yaml", ":4:5", "not valid YAML: expected the node content, but found '-'"),
    ("broken.json", ":1:27", "not valid JSON: Expecting value"),
    ("not_a_flow.yaml", ":2:1", "not an Archy flow: no inboundCall/inboundEmail/… at the top (found: carriers)"),
])
def test_a_file_that_is_not_a_flow_exits_2_with_the_file_and_reason(name: str, where: str, reason: str) -> None:
    code, out = run(str(FIXTURES / name))
    assert code == 2
    assert f"{FIXTURES / name}{where}: {reason}" in out


def test_binary_text_a_list_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "prose.txt").write_text("Call us any time.\n")
    (tmp_path / "list.yaml").write_text("- inboundCall: {}\n")
    for name, reason in (("b.yaml", "is not UTF-8 text"), ("prose.txt", "the file is one plain value"),
                         ("list.yaml", "the file is a list"), ("missing.yaml", "cannot read: No such file")):
        with pytest.raises(FlowUnreadable, match=reason):
            read_flow(tmp_path / name)
    code, out = run("--json", str(FLOW), str(tmp_path / "b.yaml"))
    assert code == 2  # an unreadable file wins over a clean one
    report = json.loads(out)
    assert report["unreadable"] == 1 and report["files"][0]["error"] is None
    assert report["files"][1]["error"]["reason"].startswith("is not UTF-8 text")


def test_a_bad_config_is_a_usage_error_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("carriers: {}\n")
    code, out = run("--config", str(tmp_path / "c.yaml"), str(FLOW))
    assert code == 2 and "primary" in out


def test_aliases_cannot_blow_up_the_walk() -> None:
    rows = "\n".join(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9))
    text = "inboundCall:\n  l0: &l0 [x]\n" + rows + "\n"
    with pytest.raises(FlowUnreadable, match="more than"):
        lint(parse_flow(text), LintContext())
