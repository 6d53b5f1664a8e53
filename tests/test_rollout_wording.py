"""Rollout item 17: the wording a user notices. Each test failed on the code before its fix.
(The sweep CSV's code column is tests/test_sweep_tls.py; the lab config's warnings, tests/test_demo_and_lab.py;
`vantages: {names: [vm, edge], edge: true}`, the fixture tests/configs/bad/vantage_edge_listed_with_edge_on.yaml.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from trunkguard.core.failover import Observation, PairSnapshot, PolicyRules, Readiness, decide
from trunkguard.core.health import TrunkHealth, TrunkState
from trunkguard.core.vantage import QuorumRules, VantageView
from trunkguard.core.wording import count, format_age

ROOT = Path(__file__).resolve().parent.parent
READY = Readiness(sweep_ok=True, certs_ok=True, parity_ok=True)


def test_measured_times_are_rounded_for_people() -> None:
    assert [format_age(s) for s in (0.0306396, 0.0004, 2.3456, 152.4)] == ["31ms", "1ms", "2.35s", "152s"]


def test_the_edge_views_age_in_a_sentence_is_rounded() -> None:
    obs = Observation((TrunkHealth("p1", "primary", TrunkState.DOWN), TrunkHealth("s1", "secondary")), 0, READY,
                      {"primary": True}, edge_as_of=99.9693604)
    d = decide(PairSnapshot(), obs, 100.0, PolicyRules())
    assert d.swap is not None and "(its view 31ms old)" in d.sentence, d.sentence


def test_one_swap_is_one_swap() -> None:
    assert (count(1, "swap"), count(2, "swap"), count(0, "notification")) == ("1 swap", "2 swaps", "0 notifications")
    done = subprocess.run([sys.executable, "-m", "trunkguard", "simulate", "--config",
                           str(ROOT / "examples" / "single-trunk.yaml"), "--scenario",
                           str(ROOT / "examples" / "scenarios" / "flapping-primary.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = done.stdout.splitlines()[-1]
    assert ", 1 swap, " in summary and "1 swaps" not in summary, summary


def test_a_healthy_verdict_is_not_called_healthy_when_one_vantage_sees_it_down() -> None:
    """It said both "primary carrier healthy" and "primary down only from site-a"."""
    quorum = QuorumRules(("site-a", "site-b", "site-c"), 2, stale_after=5.0)
    views = {"site-a": VantageView("site-a", 100, ("primary",), ("primary",), ("secondary",), ("p1",)),
             "site-b": VantageView("site-b", 100, (), (), ("primary", "secondary")),
             "site-c": VantageView("site-c", 100, (), (), ("primary", "secondary"))}
    obs = Observation((TrunkHealth("p1", "primary"), TrunkHealth("s1", "secondary")), 0, READY, vantages=views)
    d = decide(PairSnapshot(), obs, 101.0, PolicyRules(quorum=quorum))
    assert d.swap is None and "healthy" not in d.sentence
    assert d.sentence == ("no action: not enough vantages see the primary down (primary down only from site-a: 1 of "
                          "3 vantages, 2 needed; here 1/1 trunks usable)")
