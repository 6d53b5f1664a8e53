"""What ships under deploy/: the Grafana dashboard and the Prometheus rules query only metrics
trunkguard exports, and promtool accepts the rules and passes their tests."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import need_binary

ROOT = Path(__file__).resolve().parent.parent
METRICS = ROOT / "src" / "trunkguard" / "api" / "metrics.py"
TRUNK_METRICS = ROOT / "src" / "trunkguard" / "api" / "trunk_metrics.py"  # the per-trunk families, written by hand
NAME = re.compile(r"\btrunkguard_[a-z_]+")


def exported() -> set[str]:
    """Every series name /metrics can carry: the families in api/metrics.py, with the suffixes
    prometheus-client adds to counters and histograms."""
    families = set(NAME.findall(METRICS.read_text())) | set(NAME.findall(TRUNK_METRICS.read_text()))
    counters = {f for f in families if re.search(rf'(Counter|CounterMetricFamily)\(\s*"{f}"', METRICS.read_text())}
    histograms = {f for f in families if re.search(rf'Histogram\(\s*"{f}"', METRICS.read_text())}
    return families | {f"{c}_total" for c in counters} | {f"{h}_{s}" for h in histograms
                                                        for s in ("bucket", "sum", "count")}


def test_the_grafana_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "trunkguard.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in NAME.findall(target["expr"])}
    assert len(dashboard["panels"]) >= 10
    assert queried and queried <= exported(), queried - exported()
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_the_alert_rules_query_only_exported_metrics() -> None:
    text = (ROOT / "deploy" / "prometheus" / "trunkguard-rules.yml").read_text()
    exprs = re.findall(r"expr: (?:\|\n((?:\s{10}.*\n)+)|(.*))", text)
    queried = {name for block, line in exprs for name in NAME.findall(block or line)}
    assert {"trunkguard_carrier_usable_trunks", "trunkguard_store_ok", "trunkguard_leader",
            "trunkguard_swaps_total", "trunkguard_cert_expiry_timestamp_seconds"} <= queried
    assert queried <= exported(), queried - exported()


def test_promtool_checks_the_rules_and_their_tests_pass() -> None:
    promtool = need_binary("promtool", "prometheus", "it checks the shipped alert rules")
    folder = ROOT / "deploy" / "prometheus"
    checked = subprocess.run([promtool, "check", "rules", "trunkguard-rules.yml"], cwd=folder, capture_output=True,
                             text=True)
    assert checked.returncode == 0 and "SUCCESS: 13 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", "trunkguard-rules.test.yml"], cwd=folder,
                            capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
