"""Simulation through the real scheduler and core: scenarios, the CLI, and the design's invariants."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trunkguard.config import Config, load_config, parse_config
from trunkguard.core.failover import Notify, readiness_gaps
from trunkguard.core.machine import Event, OperatorDid, StartSwap, Step, SwapSettled
from trunkguard.rules import sim_world
from trunkguard.sim.runner import Simulation, simulate
from trunkguard.sim.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
SINGLE = ROOT / "examples" / "single-trunk.yaml"
TWO_TRUNKS = (ROOT / "tests" / "configs" / "minimal.yaml").read_text().replace(
    '- {name: primary-1, uri: "sip:127.0.0.1:5070"}',
    '- {name: primary-1, uri: "sip:127.0.0.1:5070"}\n      - {name: primary-2, uri: "sip:127.0.0.1:5071"}')


def run(events: list[dict[str, Any]], duration: float = 3600, config: Config | None = None,
        seed: int = 1) -> Any:
    return simulate(sim_world(config or load_config(SINGLE)), Scenario.model_validate({"duration": duration, "events": events}),
                    seed=seed)


def test_flapping_primary_swaps_once_and_stays() -> None:
    """The guide's edge case 1: the primary alternates down/up every 30 s."""
    events = [{"at": 600 + 30 * i, "trunk": "primary-1", "condition": "down" if i % 2 == 0 else "up"}
              for i in range(40)]
    result = run(events, duration=7200)
    assert [(s["to"], s["trigger"]) for s in result.swaps] == [("secondary", "automatic")]
    assert result.final_active == "secondary"


def test_flapping_in_sustained_mode_never_returns_while_it_flaps() -> None:
    config = parse_config(SINGLE.read_text() + "policy: {failback: {mode: sustained}}\n")
    events = [{"at": 600 + 30 * i, "trunk": "primary-1", "condition": "down" if i % 2 == 0 else "up"}
              for i in range(210)]  # flaps until 6870 s of a 7200 s run
    result = run(events, duration=7200, config=config)
    assert [s["to"] for s in result.swaps] == ["secondary"]


def test_sustained_mode_returns_after_recovery() -> None:
    config = parse_config(SINGLE.read_text() + "policy: {failback: {mode: sustained}}\n")
    result = run([{"at": 100, "trunk": "primary-1", "condition": "down"},
                  {"at": 400, "trunk": "primary-1", "condition": "up"}], duration=1200, config=config)
    assert [s["to"] for s in result.swaps] == ["secondary", "primary"]
    back = result.swaps[1]
    assert back["trigger"] == "automatic" and back["at_s"] >= 400 + 300


def test_media_dead_primary_is_swapped_when_media_checks_are_on() -> None:
    config = parse_config(SINGLE.read_text().replace(
        "    trunk_group_id: tg-primary\n",
        "    trunk_group_id: tg-primary\n    media: {enabled: true, interval: 20s}\n"))
    result = run([{"at": 100, "trunk": "primary-1", "condition": "media_down"}], duration=300, config=config)
    assert len(result.swaps) == 1 and result.swaps[0]["at_s"] < 100 + 20 + 4 + 1


def test_a_503ing_primary_is_rejected_and_swapped() -> None:
    result = run([{"at": 100, "trunk": "primary-1", "condition": {"code": 503}}], duration=300)
    assert len(result.swaps) == 1 and result.swaps[0]["at_s"] - 100 < 20


def test_one_dead_trunk_of_two_is_not_a_carrier_outage() -> None:
    result = run([{"at": 100, "trunk": "primary-1", "condition": "down"}], duration=600,
                 config=parse_config(TWO_TRUNKS))
    assert result.swaps == []


def test_latency_below_the_deadline_is_alive() -> None:
    result = run([{"at": 100, "trunk": "primary-1", "condition": {"latency_ms": 800}}], duration=600)
    assert result.swaps == []


def test_the_breaker_holds_a_soft_outage_until_calls_drop() -> None:
    config = parse_config(SINGLE.read_text().replace(
        "    trunk_group_id: tg-primary\n",
        "    trunk_group_id: tg-primary\n    media: {enabled: true, interval: 20s}\n"))
    result = run([{"at": 50, "active_calls": 12},
                  {"at": 100, "trunk": "primary-1", "condition": "media_down"},
                  {"at": 400, "active_calls": 1}], duration=600, config=config)
    kinds = [n["kind"] for n in result.notifications]
    assert kinds[:2] == ["activation_queued", "activation_escalated"]
    assert len(result.swaps) == 1 and 400 <= result.swaps[0]["at_s"] <= 400 + 10 + 1


def test_same_seed_same_run_and_a_seed_changes_lossy_runs() -> None:
    events = [{"at": 0, "trunk": "primary-1", "condition": {"loss": 0.5}}]
    a, b, c = (run(events, duration=3600, seed=s) for s in (5, 5, 6))
    assert a.as_dict() == b.as_dict()
    assert a.probes_sent != c.probes_sent


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True, check=False)


def test_cli_json_matches_the_contract() -> None:
    result = _cli("simulate", "--config", str(SINGLE), "--scenario",
                  str(ROOT / "examples" / "scenarios" / "outage-and-approval.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"duration_s", "seed", "probes_sent", "swaps", "notifications", "final_active"}
    assert data["seed"] == 7 and data["duration_s"] == 7200.0
    assert [(s["to"], s["trigger"]) for s in data["swaps"]] == [("secondary", "automatic"), ("primary", "operator")]
    assert all(set(n) == {"at_s", "kind"} for n in data["notifications"])
    assert data["final_active"] == "primary"
    assert _cli("simulate", "--config", str(SINGLE), "--scenario",
                str(ROOT / "examples" / "scenarios" / "outage-and-approval.yaml"), "--json", "--seed", "9"
                ).stdout.count('"seed": 9') == 1


def test_cli_text_timeline_has_the_sentences() -> None:
    result = _cli("simulate", "--config", str(SINGLE), "--scenario",
                  str(ROOT / "examples" / "scenarios" / "flapping-primary.yaml"))
    assert result.returncode == 0
    assert "activating the secondary carrier: no primary trunk answers SIP" in result.stdout
    assert "failback needs a person's approval" in result.stdout


def test_cli_bad_scenario_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("duration: 100\nevents:\n  - {at: 5, trunk: nope-1, condition: down}\n"
                   "  - {at: 6, trunk: primary-1, condition: {loss: 3}}\n")
    result = _cli("simulate", "--config", str(SINGLE), "--scenario", str(bad))
    assert result.returncode == 2
    assert ("events[1].condition: {'loss': 3}: loss and rtp_loss are 0..1, code is 100..699, latency_ms is 0 or "
            "more") in result.stderr
    bad.write_text("duration: 100\nevents:\n  - {at: 5, trunk: nope-1, condition: down}\n")
    result = _cli("simulate", "--config", str(SINGLE), "--scenario", str(bad))
    assert result.returncode == 2
    assert "events[0].trunk: 'nope-1' is not a trunk of the config" in result.stderr


# ---- invariants over random scenarios (design section 4) ------------------------------------------


class CheckedSimulation(Simulation):
    """Checks the invariants at every step of the machine it drives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_flight = 0
        self.committed: list[tuple[float, str]] = []
        self.records = 0
        self.approvals: list[float] = []

    def feed(self, now: float, event: Event) -> Step:
        before = self.state
        if isinstance(event, OperatorDid) and event.action.kind == "failback":
            self.approvals.append(now)
        result = super().feed(now, event)
        policy = self.rules.policy
        for effect in result.effects:
            if isinstance(effect, StartSwap):
                swap = effect.swap
                assert self.in_flight == 0, "two swaps in flight"
                self.in_flight += 1
                seen = result.state.observation()
                if swap.to == "secondary" and swap.trigger == "automatic":
                    assert readiness_gaps(seen, policy) == [], "swap to a carrier not ready"
                    assert not any(t.usable for t in seen.carrier("primary"))
                if swap.to == "primary":
                    last = self.committed[-1]
                    assert last[1] == "secondary"
                    assert now - last[0] >= policy.cooling_period, "demoted inside the cooling period"
                    if policy.failback_mode == "approval":
                        assert swap.trigger == "operator" and self.approvals, "failback without approval"
                    elif swap.trigger == "automatic":
                        since = result.state.pair.usable_since("primary")
                        assert since is not None and now - since >= policy.sustained_recovery
            elif isinstance(effect, Notify) and effect.kind in ("swap_committed", "failback_committed"):
                self.records += 1
        flight = before.pair.in_flight
        if isinstance(event, SwapSettled) and event.applied and flight is not None and flight.key == event.key:
            self.in_flight -= 1
            self.committed.append((now, flight.to, flight.trigger))
        return result


_conditions = st.sampled_from(["up", "down", "media_down", {"loss": 0.3}, {"loss": 0.9}, {"code": 503},
                               {"code": 405}, {"latency_ms": 900}, {"latency_ms": 3000}])
_event = st.one_of(
    st.fixed_dictionaries({"trunk": st.sampled_from(["primary-1", "primary-2", "secondary-1"]),
                           "condition": _conditions}),
    st.fixed_dictionaries({"active_calls": st.integers(0, 20)}),
    st.fixed_dictionaries({"operator": st.sampled_from(["failover", "failback", "pause", "resume", "cancel"])}),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 3000, allow_nan=False), _event), max_size=25),
       st.sampled_from(["approval", "sustained"]), st.integers(0, 2**16))
def test_invariants_hold_in_random_scenarios(steps: list[tuple[float, dict[str, Any]]], mode: str, seed: int) -> None:
    config = parse_config(TWO_TRUNKS.replace("    trunk_group_id: tg-primary\n",
                                             "    trunk_group_id: tg-primary\n    media: {enabled: true}\n")
                          + f"policy: {{failback: {{mode: {mode}}}}}\n")
    events = [{"at": round(at, 3), **event} for at, event in sorted(steps, key=lambda s: s[0])]
    scenario = Scenario.model_validate({"duration": 3600, "events": events})
    sim = CheckedSimulation(sim_world(config), scenario, seed, record_timeline=False)
    result = sim.run()
    assert sim.records == len(result.swaps), "every swap has exactly one record"
    assert result.final_active == (result.swaps[-1]["to"] if result.swaps else "primary")
