"""What ships under deploy/genesys: the Terraform parses (python-hcl2) and keeps its hands off what
trunkguard owns; the flow's substitutions and the module's agree, and the flow they publish lints
clean; the config snippet the module outputs loads in trunkguard; the sweep tone is a 1004 Hz tone."""

from __future__ import annotations

import re
import textwrap
import wave
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from typer.testing import CliRunner

from trunkguard.actuation.genesys import GenesysPlatform
from trunkguard.cli import app
from trunkguard.config import load_config, parse_config
from trunkguard.flows.document import parse_flow
from trunkguard.flows.lint import RULES, LintContext, lint
from trunkguard.flows.tone import RATE, goertzel_power, tone_wav
from trunkguard.rules import lint_words

ROOT = Path(__file__).resolve().parent.parent
GENESYS = ROOT / "deploy" / "genesys"
MODULE = GENESYS / "terraform"
FLOW = GENESYS / "flows" / "trunkguard-routing-matrix.yaml"
TONE = MODULE / "audio" / "trunkguard-sweep-tone-1004hz.wav"
DOC = ROOT / "docs" / "routing-matrix.md"
OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, preserve_heredocs=False,
                                    with_comments=False)
REF = re.compile(r"\$\{([^{}]+)\}")


def hcl(path: Path) -> dict[str, Any]:
    with path.open() as f:
        data: dict[str, Any] = hcl2.load(f, serialization_options=OPTIONS)
    return data


def module() -> dict[str, Any]:
    """Every block of the module's .tf files, merged by kind."""
    merged: dict[str, Any] = {}
    for path in sorted(MODULE.glob("*.tf")):
        for kind, blocks in hcl(path).items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def resources() -> dict[str, dict[str, Any]]:
    return {f"{rtype}.{name}": body for block in module()["resource"] for rtype, named in block.items()
            for name, body in named.items()}


def variables() -> dict[str, dict[str, Any]]:
    return {name: body for block in module()["variable"] for name, body in block.items()}


def example_values() -> dict[str, Any]:
    """The variables as the example root sets them, defaults for the rest."""
    [call] = [b["routing_matrix"] for b in hcl(MODULE / "example" / "main.tf")["module"]]
    values = {name: body.get("default") for name, body in variables().items()}
    values.update({k: v for k, v in call.items() if k != "source"})
    return values


def evaluate(text: str, values: dict[str, Any]) -> str:
    """A string with its simple references resolved: `var.x`, a resource's argument (itself
    evaluated), `path.module`; a computed attribute (id, route_id) becomes `<type>.<name>.<attr>`."""
    res = resources()

    def one(match: re.Match[str]) -> str:
        ref = match.group(1).strip()
        if ref == "path.module":
            return str(MODULE)
        if ref.startswith("var."):
            return str(values[ref[4:]])
        if ref.startswith("local."):
            return evaluate(next(b[ref[6:]] for b in module()["locals"] if ref[6:] in b), values)
        rtype, name, attr = ref.split(".")
        argument = res[f"{rtype}.{name}"].get(attr)
        return evaluate(argument, values) if isinstance(argument, str) else ref

    return REF.sub(one, text)


def test_every_tf_file_parses_and_names_the_provider_version_it_was_written_against() -> None:
    files = sorted(MODULE.rglob("*.tf"))
    assert {p.name for p in files} >= {"versions.tf", "variables.tf", "main.tf", "outputs.tf"}
    for path in files:
        assert hcl(path), path
    [terraform] = hcl(MODULE / "versions.tf")["terraform"]
    [providers] = terraform["required_providers"]
    assert providers["genesyscloud"] == {"source": "mypurecloud/genesyscloud", "version": "~> 1.84"}
    assert "v1.84.1" in (MODULE / "versions.tf").read_text()


def test_a_plan_never_reverts_what_trunkguard_writes() -> None:
    res = resources()
    row = res["genesyscloud_architect_datatable_row.active"]
    assert row["lifecycle"] == [{"ignore_changes": ["properties_json"]}]
    route = res["genesyscloud_telephony_providers_edges_site_outbound_route.carriers"]
    assert route["lifecycle"] == [{"ignore_changes": ["external_trunk_base_ids"]}]
    assert route["external_trunk_base_ids"] == ["${var.primary_trunk_base_id}", "${var.secondary_trunk_base_id}"]
    assert route["distribution"] == "SEQUENTIAL"


def test_the_table_has_the_columns_the_genesys_adapter_writes() -> None:
    table = resources()["genesyscloud_architect_datatable.active_carrier"]
    columns = {p["name"]: p["type"] for p in table["properties"]}
    assert columns == {"key": "string", "activeCarrier": "string", "trunkBaseId": "string"}
    platform = GenesysPlatform(None, primary_trunk_base="tb-a", secondary_trunk_base="tb-b",  # type: ignore[arg-type]
                               datatable_id="dt", datatable_row="active")
    assert platform.row is not None and platform.row.path == "/api/v2/flows/datatables/dt/rows/active"
    row = resources()["genesyscloud_architect_datatable_row.active"]
    assert row["key_value"] == "${var.row_key}" and variables()["row_key"]["default"] == platform.row_key
    assert '"activeCarrier" = "primary"' in row["properties_json"]
    assert '"trunkBaseId" = var.primary_trunk_base_id' in row["properties_json"]


def test_the_flows_substitutions_are_exactly_the_modules() -> None:
    flow = resources()["genesyscloud_flow.routing_matrix"]
    assert evaluate(flow["filepath"], example_values()) == f"{MODULE}/../flows/{FLOW.name}"
    in_yaml = set(re.findall(r"\{\{(\w+)\}\}", flow_text()))
    assert in_yaml == set(flow["substitutions"]), in_yaml ^ set(flow["substitutions"])


def flow_text() -> str:
    """The flow without its comment lines (whose {{...}} are prose, not substitutions)."""
    return "\n".join(line for line in FLOW.read_text().splitlines() if not line.lstrip().startswith("#"))


def heredoc(value: str) -> str:
    """A `<<-EOT` heredoc as Terraform reads it: the markers gone, the common indent removed."""
    match = re.fullmatch(r"<<-(\w+)\n(.*)\n\s*\1", value, re.DOTALL)
    assert match, value
    return textwrap.dedent(match.group(2)) + "\n"


def published_flow() -> str:
    """The flow text as the provider publishes it: every {{name}} replaced with the module's value."""
    values = example_values()
    subs = {k: evaluate(v, values) for k, v in resources()["genesyscloud_flow.routing_matrix"]["substitutions"].items()}
    return re.sub(r"\{\{(\w+)\}\}", lambda m: subs[m.group(1)], flow_text())


def test_the_published_flow_parses_and_lints_clean_against_trunkguards_example_config() -> None:
    text = published_flow()
    body = yaml.safe_load(text)["inboundCall"]
    assert body["name"] == "trunkguard routing matrix"
    words, tables = lint_words(load_config(ROOT / "examples" / "genesys-byoc.yaml"))
    ctx = LintContext.build(words=words, tables=["CarrierFailover", *tables])
    assert lint(parse_flow(text), ctx) == []
    actions = body["tasks"][0]["task"]["actions"]
    test_call, lookup, standard, failover = actions[:4]
    assert test_call["decision"]["condition"]["exp"] == 'ToPhoneNumber(Call.Ani).e164 == "+13175559999"'
    tone_steps = test_call["decision"]["outputs"]["yes"]["actions"]
    assert [next(iter(a)) for a in tone_steps] == ["playAudio", "disconnect"]
    assert tone_steps[0]["playAudio"]["audio"]["prompt"] == "Prompt.trunkguard_sweep_tone_1004hz"
    assert lookup["dataTableLookup"]["lookupValue"] == {"lit": "active"}
    assert list(lookup["dataTableLookup"]["dataTable"]) == ["CarrierFailover"]
    assert standard["decision"]["condition"]["exp"] == 'Task.ActiveCarrier == "primary"'
    assert failover["decision"]["condition"]["exp"] == 'Task.ActiveCarrier == "secondary"'
    reduced = [next(iter(a)) for a in failover["decision"]["outputs"]["yes"]["actions"]]
    assert reduced == ["playAudio", "transferToAcd", "disconnect"]  # no menu, no speech, no data action
    assert [next(iter(a)) for a in actions[4:]] == ["playAudio", "transferToAcd", "disconnect"]  # overflow


def test_the_flow_yaml_uses_only_the_archy_keys_its_header_accounts_for() -> None:
    """A new action kind in the flow needs its public example named in the header (or UNVERIFIED)."""
    data = yaml.safe_load(FLOW.read_text())
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                keys.add(str(k))
                walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    header = FLOW.read_text().split("\ninboundCall:")[0]
    actions = {"decision", "playAudio", "disconnect", "dataTableLookup", "updateData", "jumpToMenu",
               "transferToAcd", "menuTask", "menuDisconnect"}
    assert actions <= keys
    for action in actions:
        assert action in header, action
    assert "UNVERIFIED" in header and "outputs.failure" in header


def test_the_config_snippet_output_loads_in_trunkguard() -> None:
    with (MODULE / "outputs.tf").open() as f:
        raw = hcl2.load(f, serialization_options=hcl2.SerializationOptions(
            strip_string_quotes=True, explicit_blocks=False, preserve_heredocs=True, with_comments=False))
    [snippet] = [b["trunkguard_config"]["value"] for b in raw["output"] if "trunkguard_config" in b]
    rendered = yaml.safe_load(evaluate(heredoc(snippet), example_values()))
    base = yaml.safe_load((ROOT / "examples" / "genesys-byoc.yaml").read_text())
    for role in ("primary", "secondary"):
        base["carriers"][role].update(rendered["carriers"][role])
    base["platform"] = {**base["platform"], **rendered["platform"]}
    for old in ("site_id", "outbound_route_id"):
        base["platform"].pop(old)
    config = parse_config(yaml.safe_dump(base))
    assert config.platform is not None
    assert config.platform.datatable_id == "genesyscloud_architect_datatable.active_carrier.id"
    assert config.platform.datatable_row == "active"
    assert config.platform.route_limits() == (
        ("9a1c0000-0000-4000-8000-000000000001",),
        ("genesyscloud_telephony_providers_edges_site_outbound_route.carriers.route_id",))
    assert config.carriers["primary"].trunk_group_id == "4c1a7f0e-0000-4000-8000-00000000000a"
    outputs = {name for b in module()["output"] for name in b}
    assert {"datatable_id", "datatable_row", "outbound_route_ids", "site_id", "flow_id"} <= outputs


def test_every_variable_used_is_declared_and_the_example_sets_every_required_one() -> None:
    text = "\n".join(p.read_text() for p in MODULE.glob("*.tf"))
    used = set(re.findall(r"\bvar\.(\w+)", text))
    declared = variables()
    assert used <= set(declared), used - set(declared)
    required = {name for name, body in declared.items() if "default" not in body}
    assert required <= set(example_values()) and all(example_values()[r] is not None for r in required)
    assert required == {"primary_trunk_base_id", "secondary_trunk_base_id", "site_id", "dnis", "standard_queue",
                        "failover_queue", "overflow_queue", "sweep_caller_number"}


def test_the_sweep_tone_is_a_1004_hz_tone_of_3_s_and_is_what_flows_tone_writes(tmp_path: Path) -> None:
    assert TONE.read_bytes() == tone_wav()
    with wave.open(str(TONE)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, RATE)
        assert w.getnframes() == 3 * RATE
        frames = w.readframes(w.getnframes())
    samples = [int.from_bytes(frames[i:i + 2], "little", signed=True) for i in range(0, len(frames), 2)]
    at_tone = goertzel_power(samples[:RATE], 1004)
    for other in (697, 941, 1209, 1477, 2000, 3000):  # DTMF rows and columns, and elsewhere
        assert at_tone > 1000 * goertzel_power(samples[:RATE], other), other
    assert max(abs(s) for s in samples) < 32767  # no clipping
    result = CliRunner().invoke(app, ["flows", "tone", str(tmp_path / "t.wav")])
    assert result.exit_code == 0 and (tmp_path / "t.wav").read_bytes() == TONE.read_bytes()
    bad = CliRunner().invoke(app, ["flows", "tone", str(tmp_path / "x.wav"), "--hz", "5000"])
    assert bad.exit_code == 2 and "cannot be carried at 8000" in bad.output
    prompt = resources()["genesyscloud_architect_user_prompt.sweep_tone"]
    assert evaluate(prompt["resources"][0]["filename"], example_values()) == str(TONE)


@pytest.mark.parametrize("needle", [
    "terraform apply", "terraform output -raw trunkguard_config", "trunkguard flows lint",
    "ignore_changes", "1004 Hz", "not been run against a live org", "Studio",
])
def test_the_docs_page_walks_the_whole_path(needle: str) -> None:
    assert needle in DOC.read_text()


def test_the_docs_name_every_substitution_and_every_lint_rule() -> None:
    text = DOC.read_text()
    for name in resources()["genesyscloud_flow.routing_matrix"]["substitutions"]:
        assert f"`{name}`" in text, name
    for rule in RULES:
        assert f"`{rule}`" in text, rule
