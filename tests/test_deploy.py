"""What ships under deploy/: the Grafana dashboard and the Prometheus rules query only series the daemon
really exports (collected from a /metrics scrape of the lab's daemon, on its plain-HTTP metrics port),
with labels those series carry; the dashboard's variables exist and its expressions parse (promtool);
promtool accepts the rules and passes their tests."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import eventually, need_binary
from trunkguard.app import Service
from trunkguard.config import parse_config
from trunkguard.config_checks import run_readiness
from trunkguard.lab.lab import free_tcp_port, lab_environment, running_lab

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "trunkguard.json"
RULES = ROOT / "deploy" / "prometheus" / "trunkguard-rules.yml"
NAME = re.compile(r"\b(?:trunkguard|process)_[a-z_]+")
SELECTOR = re.compile(r"\b((?:trunkguard|process)_[a-z_]+)\{([^}]*)\}")
MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
SCRAPE_LABELS = {"job", "instance"}  # Prometheus adds these to every series it scrapes
GRAFANA_VARIABLES = {"__all", "__interval", "__rate_interval", "__range"}


@dataclass
class Scrape:
    """What one /metrics answer holds: every family's name (from its TYPE line, with or without
    samples) and, for each series name with samples, the label names it carries."""

    families: set[str] = field(default_factory=set)
    labels: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        scrape = cls()
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                scrape.families.add(line.split()[2])
            elif line and not line.startswith("#"):
                name, _, rest = line.partition("{")
                labels = set(re.findall(r'(\w+)="', rest.rsplit("}", 1)[0])) if rest else set()
                scrape.labels.setdefault(name.split()[0], set()).update(labels)
        return scrape

    def exports(self, name: str) -> bool:
        return name in self.families or name in self.labels


async def _scrape(tmp: Path) -> str:
    """The lab's daemon with a vantage quorum (so the vantage families are there), after a probe and a
    test call of each trunk, scraped on its metrics port."""
    port = free_tcp_port()
    async with running_lab() as lab:
        text = lab.config_text("fast", storage=f"sqlite:///{tmp}/tg.db", api_listen=f"127.0.0.1:{free_tcp_port()}")
        text = text.replace("token_env: TRUNKGUARD_API_TOKEN}",
                            f'token_env: TRUNKGUARD_API_TOKEN, metrics_listen: "127.0.0.1:{port}"}}')
        text += "replica: {name: site-a}\nvantages: {names: [site-a, site-b], report_every: 200ms}\n"
        cfg = parse_config(text)
        await run_readiness(cfg)
        service = Service.build(cfg, lab_environment("t"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            trunks = ("carrier-a-1", "carrier-b-1")
            await eventually(lambda: service.status().leader and all(
                {s.kind for s in service.status().samples.recent.get(t, ())} == {"options", "media"} for t in trunks)
                and all(t in service.status().samples.rtp for t in trunks), "a probe and a test call of each trunk")
            async with httpx.AsyncClient(timeout=10) as client:
                return (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)


@pytest.fixture(scope="module")
def scrape(tmp_path_factory: pytest.TempPathFactory) -> Scrape:
    return Scrape.parse(asyncio.run(_scrape(tmp_path_factory.mktemp("deploy"))))


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def _expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target, annotation and variable query."""
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield f"panel {panel['title']!r}", target["expr"]
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            yield f"annotation {annotation['name']!r}", annotation["expr"]
    for variable in dashboard["templating"]["list"]:
        query = variable["query"]
        query = query["query"] if isinstance(query, dict) else query
        found = re.fullmatch(r"label_values\((.*), (\w+)\)", query)
        if found:
            yield f"variable {variable['name']!r}", found.group(1)


def _check_series(where: str, expr: str, scrape: Scrape) -> list[str]:
    problems = [f"{where}: {name} is not exported" for name in NAME.findall(expr) if not scrape.exports(name)]
    for name, matchers in SELECTOR.findall(expr):
        carried = scrape.labels.get(name)
        if carried is None:
            continue  # a family with no sample in the lab (a certificate's expiry): its name is checked above
        for label in set(MATCHER.findall(matchers)) - SCRAPE_LABELS - carried:
            problems.append(f"{where}: {name} has no label {label!r} (it has {sorted(carried)})")
    every_label = set().union(*scrape.labels.values()) | SCRAPE_LABELS
    for group in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr):
        for label in (x.strip() for x in group.split(",") if x.strip()):
            if label not in every_label:
                problems.append(f"{where}: no exported series has the label {label!r}")
    return problems


def test_the_grafana_dashboard_queries_only_series_the_daemon_exports(scrape: Scrape) -> None:
    dashboard = _dashboard()
    expressions = list(_expressions(dashboard))
    assert len(dashboard["panels"]) >= 15 and len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    problems = [p for where, expr in expressions for p in _check_series(where, expr, scrape)]
    assert not problems, "\n".join(problems)
    # the per-trunk series: every panel that shows one is the leader's view, and follows the trunk variable
    per_trunk = {name for name, labels in scrape.labels.items() if "trunk" in labels}
    assert {"trunkguard_probe_success", "trunkguard_probes_total", "trunkguard_media_rtp_loss_ratio"} <= per_trunk
    for where, expr in expressions:
        if where.startswith("panel") and set(NAME.findall(expr)) & per_trunk:
            assert "trunkguard_leader" in expr and "== 1" in expr, (where, expr)
            assert "$trunk" in expr, (where, expr)
    # the routing groups: the series about a group carry `group` (the trunk series do not: they join by carrier),
    # and every panel that shows one follows the group variable and keeps the groups apart
    per_group = {name for name, labels in scrape.labels.items() if "group" in labels}
    assert {"trunkguard_active_carrier", "trunkguard_pair_state", "trunkguard_swap_in_flight", "trunkguard_swaps_total",
            "trunkguard_carrier_usable_trunks", "trunkguard_carrier_trunks", "trunkguard_readiness_gate",
            "trunkguard_observe_mode", "trunkguard_group_carrier", "trunkguard_notifications_posted_total"} <= per_group
    assert not per_trunk & per_group, per_trunk & per_group
    for where, expr in expressions:
        if not where.startswith("variable") and set(NAME.findall(expr)) & per_group:
            assert "$group" in expr, (where, expr)
            for by in re.findall(r"\bby\s*\(([^)]*)\)", expr):
                labels = {x.strip() for x in by.split(",")}
                assert "group" in labels or "carrier" in labels, (where, expr)  # a carrier is the same in each group


def test_the_dashboard_has_its_variables_a_failing_trunks_table_swap_annotations_and_named_stats() -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert {"datasource", "job", "group", "carrier", "trunk"} <= set(variables)
    used = set(re.findall(r"\$\{?(\w+)", json.dumps(dashboard)))
    assert used - GRAFANA_VARIABLES <= set(variables), used - set(variables)
    assert "$carrier" in json.dumps(variables["trunk"]["query"])  # the trunk list follows the carrier picked
    assert "$group" in json.dumps(variables["carrier"]["query"])  # ... and the carriers the routing groups picked
    failing = [p for p in dashboard["panels"] if p["title"] == "Failing trunks"]
    assert failing and failing[0]["type"] == "table"
    assert re.match(r"trunkguard_probe_success\{[^}]*\} == 0 ", failing[0]["targets"][0]["expr"])
    swaps = [a for a in dashboard["annotations"]["list"] if "trunkguard_swaps_total" in a.get("expr", "")]
    assert swaps and swaps[0]["enable"] and {"{{to}}", "{{group}}"} <= set(re.findall(r"\{\{\w+\}\}",
                                                                                     swaps[0]["titleFormat"]))
    stats = [p for p in dashboard["panels"] if p["type"] == "stat"]
    assert stats
    for panel in stats:  # a name (the series' legend, from a label) or a value mapping: never a bare "1"
        named = panel["options"].get("textMode") == "name" and all("{{" in t["legendFormat"] for t in panel["targets"])
        assert named or panel["fieldConfig"]["defaults"].get("mappings"), panel["title"]
    routing = next(p for p in stats if p["title"] == "Inbound routing on")
    assert all(t["legendFormat"].startswith("{{group}}: {{carrier}}") for t in routing["targets"])


def test_the_dashboard_expressions_parse(tmp_path: Path) -> None:
    """promtool parses each expression (the variables replaced by what Grafana would put there)."""
    promtool = need_binary("promtool", "prometheus", "it parses the dashboard's expressions")
    rules = [{"record": f"dashboard:expr_{i}", "expr": re.sub(r"\$\{?\w+\}?", ".*", expr)}
             for i, (_, expr) in enumerate(_expressions(_dashboard()))]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alert_rules_query_only_series_the_daemon_exports(scrape: Scrape) -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    exprs = [(rule["alert"], str(rule["expr"])) for group in groups for rule in group["rules"]]
    queried = {name for _, expr in exprs for name in NAME.findall(expr)}
    assert {"trunkguard_carrier_usable_trunks", "trunkguard_store_ok", "trunkguard_leader", "trunkguard_swaps_total",
            "trunkguard_cert_expiry_timestamp_seconds", "trunkguard_replica_heard_timestamp_seconds"} <= queried
    problems = [p for alert, expr in exprs for p in _check_series(f"alert {alert}", expr, scrape)]
    assert not problems, "\n".join(problems)
    assert not any(name.endswith("_age_seconds") for name in scrape.families), "ages are exported as timestamps"
    # each routing group alerts on its own: no rule over a group's series aggregates the groups together, and
    # none picks a carrier by name (a group's first and second carriers are trunkguard_group_carrier's ranks)
    per_group = {name for name, labels in scrape.labels.items() if "group" in labels}
    for alert, expr in exprs:
        if set(NAME.findall(expr)) & per_group:
            for by in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr):
                labels = {x.strip() for x in by.split(",")}
                assert "group" in labels or labels == {"instance"}, (alert, expr)  # on (instance): the leader
            assert 'carrier="' not in expr, (alert, expr)


def test_promtool_checks_the_rules_and_their_tests_pass() -> None:
    promtool = need_binary("promtool", "prometheus", "it checks the shipped alert rules")
    folder = RULES.parent
    checked = subprocess.run([promtool, "check", "rules", "trunkguard-rules.yml"], cwd=folder, capture_output=True,
                             text=True)
    assert checked.returncode == 0 and "SUCCESS: 14 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", "trunkguard-rules.test.yml"], cwd=folder,
                            capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
