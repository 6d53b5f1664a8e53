"""The quorum of vantages in the core: who counts, who is isolated, and what the machine does with
their views (tests/test_vantages_netns.py runs the same across network namespaces)."""

from __future__ import annotations

import pytest

from trunkguard.config import parse_config
from trunkguard.core.events import EdgeRead, ProbeDone, SendProbe, StartSwap, Tick, VantagesRead
from trunkguard.core.health import TrunkState
from trunkguard.core.machine import MachineState, initial, own_view, step
from trunkguard.core.quorum import quorum_need
from trunkguard.core.vantage import QuorumRules, VantageView, judge
from trunkguard.errors import ConfigError
from trunkguard.rules import machine_rules

RULES = QuorumRules(("site-a", "site-b", "site-c"), 2, stale_after=5.0)


def _view(name: str, at: float, *, down: bool = False, reaches: tuple[str, ...] = ("primary", "secondary"),
          failing: tuple[str, ...] = ()) -> VantageView:
    return VantageView(name, at, ("primary",) if down else (), ("primary",) if down else (),
                       tuple(r for r in reaches if not (down and r == "primary")), failing)


def test_majority_and_counts() -> None:
    assert quorum_need("majority", 3) == 2 and quorum_need("majority", 4) == 3 and quorum_need("majority", 1) == 1
    assert quorum_need(1, 3) == 1 and quorum_need("majority", 0) == 0


def test_the_primary_is_down_only_when_enough_live_vantages_agree() -> None:
    views = {"site-a": _view("site-a", 100, down=True), "site-b": _view("site-b", 100),
             "site-c": _view("site-c", 100)}
    one = judge("primary", views, None, None, 101, RULES)
    assert not one.down and one.words == "primary down only from site-a: 1 of 3 vantages, 2 needed"
    views["site-b"] = _view("site-b", 100, down=True)
    two = judge("primary", views, None, None, 101, RULES)
    assert two.down and two.hard and two.words == "primary down from 2 of 3 vantages"


def test_a_vantage_that_reaches_nothing_or_goes_quiet_is_isolated_and_does_not_count() -> None:
    views = {"site-a": _view("site-a", 100, down=True),
             "site-b": VantageView("site-b", 100, ("primary", "secondary"), ("primary", "secondary"), (), ()),
             "site-c": _view("site-c", 90, down=True)}  # 11 s old: its reports stopped
    verdict = judge("primary", views, None, None, 101, RULES)
    assert not verdict.down  # site-b sees everything down: its own network, not the carriers
    assert verdict.words == ("primary down only from site-a: 1 of 3 vantages, 2 needed (site-b reaches nothing: "
                             "isolated; site-c not heard from for 11s: isolated)")
    assert [s.state for s in verdict.vantages] == ["down", "isolated", "isolated"]
    never = judge("primary", {}, None, None, 101, RULES)
    assert "site-a never heard from: isolated" in never.words and not never.down


def test_the_platforms_edge_counts_as_one_more_vantage() -> None:
    rules = QuorumRules(("site-a", "site-b"), 2, edge=True, stale_after=5.0, edge_stale_after=20.0)
    views = {"site-a": _view("site-a", 100, down=True), "site-b": _view("site-b", 100)}
    assert judge("primary", views, False, 95, 101, rules).words == "primary down from 2 of 3 vantages"
    assert not judge("primary", views, True, 95, 101, rules).down
    old = judge("primary", views, False, 70, 101, rules)
    assert not old.down and "edge its view is 31s old: isolated" in old.words


CONFIG = """carriers:
  primary:
    trunk_group_id: tg-primary
    health: {interval: 1s, timeout: 500ms, confirm_interval: 100ms, down_after: 2, confirm_burst: 2, up_after: 2}
    trunks: [{name: p1, uri: "sip:127.0.0.1:5070"}]
  secondary:
    trunk_group_id: tg-secondary
    health: {interval: 1s, timeout: 500ms, confirm_interval: 100ms, down_after: 2, confirm_burst: 1, up_after: 2}
    trunks: [{name: s1, uri: "sip:127.0.0.1:5072"}]
policy:
  poll_interval: 1s
  readiness: {trunks: true, sweep: false, certs: false, parity: false}
  breaker: {max_active_calls: 100}
vantages: {names: [site-a, site-b, site-c]}
"""


def _machine() -> tuple[MachineState, object]:
    rules = machine_rules(parse_config(CONFIG), vantage="site-a")
    return initial(rules, 0.0, leader=True), rules


def _fold(state: MachineState, rules: object, event: object, now: float) -> tuple[MachineState, list[object],
                                                                                  list[str]]:
    result = step(state, event, now, rules)  # type: ignore[arg-type]
    return result.state, list(result.effects), list(result.sentences)


def _primary_down_here(state: MachineState, rules: object, now: float) -> MachineState:
    for seq in range(5):
        state, _, _ = _fold(state, rules, ProbeDone("p1", seq, False, detail="timeout"), now + seq * 0.1)
    assert state.trunks[0].state is TrunkState.DOWN
    return state


def test_this_vantage_alone_seeing_the_primary_down_swaps_nothing_until_a_second_agrees() -> None:
    state, rules = _machine()
    state, _, _ = _fold(state, rules, ProbeDone("s1", 0, True, 200), 0.1)
    state, _, _ = _fold(state, rules, VantagesRead((_view("site-b", 0.5), _view("site-c", 0.5))), 0.6)
    state = _primary_down_here(state, rules, 1.0)
    assert not any(isinstance(e, StartSwap) for e in _fold(state, rules, Tick(), 2.0)[1])
    assert state.last_sentence.startswith("no action") or "down only from site-a" in state.last_sentence
    state, effects, said = _fold(state, rules, VantagesRead((_view("site-b", 2.4, down=True),
                                                              _view("site-c", 2.4))), 2.5)
    assert "vantage site-b sees the primary down" in said
    [swap] = [e for e in effects if isinstance(e, StartSwap)]
    assert swap.sentence.startswith("activating the secondary carrier: primary down from 2 of 3 vantages; "
                                    "here 0/1 trunks usable"), swap.sentence


def test_a_trunk_newly_failing_elsewhere_is_confirmed_here_at_once_and_cleared_by_its_own_answer() -> None:
    state, rules = _machine()
    state, _, _ = _fold(state, rules, ProbeDone("p1", 0, True, 200), 0.1)
    state, _, _ = _fold(state, rules, VantagesRead((_view("site-b", 0.2, failing=("p1",)),)), 0.3)
    assert state.trunks[0].state is TrunkState.SUSPECT
    state, effects, _ = _fold(state, rules, Tick(), 0.3)
    assert any(isinstance(e, SendProbe) and e.task.trunk == "p1" for e in effects)  # confirmation now, not in 1 s
    state, _, _ = _fold(state, rules, ProbeDone("p1", 1, True, 200), 0.35)
    assert state.trunks[0].state is TrunkState.UP  # its own answer decides
    # the same failing trunk read again is not news: no new suspicion while site-b's path stays cut
    state, _, _ = _fold(state, rules, VantagesRead((_view("site-b", 0.6, failing=("p1",)),)), 0.7)
    assert state.trunks[0].state is TrunkState.UP
    # an isolated vantage's failures say nothing of the trunks
    isolated = VantageView("site-c", 0.8, ("primary", "secondary"), ("primary", "secondary"), (), ("p1", "s1"))
    state, _, _ = _fold(state, rules, VantagesRead((isolated,)), 0.9)
    assert state.trunks[0].state is TrunkState.UP and state.trunks[1].state is TrunkState.UP


def test_own_view_states_what_this_process_sees() -> None:
    state, rules = _machine()
    state = _primary_down_here(state, rules, 1.0)
    view = own_view(state, rules, 2.0)  # type: ignore[arg-type]
    assert (view.name, view.down, view.hard, view.reaches, view.failing) == \
        ("site-a", ("primary",), ("primary",), ("secondary",), ("p1",))
    assert VantageView.from_json("site-a", 2.0, view.as_json()) == view


def test_an_edge_view_change_is_judged_with_the_vantages() -> None:
    cfg = parse_config(CONFIG.replace("vantages: {names: [site-a, site-b, site-c]}",
                                      "vantages: {names: [site-a], edge: true}"))
    rules = machine_rules(cfg, vantage="site-a")
    state = initial(rules, 0.0, leader=True)
    state, _, _ = _fold(state, rules, ProbeDone("s1", 0, True, 200), 0.1)
    state = _primary_down_here(state, rules, 1.0)
    assert not state.pair.in_flight  # the edge has no view: 1 of 2, and 2 needed (majority of 2)
    state, effects, _ = _fold(state, rules, EdgeRead((("primary", False), ("secondary", True))), 2.0)
    assert any(isinstance(e, StartSwap) for e in effects)


@pytest.mark.parametrize(("text", "field", "rule"), [
    ("vantages: {names: [a, a]}", "vantages.names.1", "'a' is listed twice"),
    ("vantages: {names: [edge]}", "vantages.names.0", "set `edge: true` instead"),
    ("vantages: {names: [a, b]}\npolicy: {quorum: 3}", "policy.quorum", "at most the 2 configured vantages, not 3"),
    ("vantages: {names: [a], report_every: 2s, stale_after: 3s}", "vantages.stale_after",
     "at least twice report_every"),
    ("replica: {lease_ttl: 500ms}", "replica.lease_ttl", "must be at least 1s"),
    ("replica: {lease_ttl: 2m}", "replica.lease_ttl", "must be at most 1m"),
    ("replica: {name: 'has space'}", "replica.name", "pattern"),
])
def test_bad_replica_and_vantage_settings_name_the_field_and_the_rule(text: str, field: str, rule: str) -> None:
    base = CONFIG.split("vantages:")[0].replace("policy:\n  poll_interval: 1s\n", "policy:\n  poll_interval: 1s\n")
    if text.startswith("vantages") and "policy:" in text:
        base = base.replace("policy:\n", "policy:\n  quorum: 3\n")
        text = text.split("\n")[0]
    with pytest.raises(ConfigError) as caught:
        parse_config(base + text + "\n")
    assert any(p == field and rule in r for p, r in caught.value.problems), caught.value.problems


def test_a_vantage_losing_its_own_network_does_not_vote_while_it_re_checks_the_other_carrier() -> None:
    losing = VantageView("site-b", 100, ("primary",), ("primary",), ("secondary",), ("p1", "s1"), ("secondary",))
    views = {"site-a": _view("site-a", 100, down=True), "site-b": losing, "site-c": _view("site-c", 100)}
    verdict = judge("primary", views, None, None, 101, RULES)
    assert not verdict.down  # site-b's 'down' does not count while its secondary is being confirmed
    assert "site-b is re-checking secondary too: its own network is in doubt: isolated" in verdict.words
    settled = VantageView("site-b", 100, ("primary",), ("primary",), ("secondary",), ("p1",), ())
    assert judge("primary", {**views, "site-b": settled}, None, None, 101, RULES).down


def test_with_a_quorum_a_primary_suspicion_re_checks_the_secondary_at_once() -> None:
    state, rules = _machine()
    state, _, _ = _fold(state, rules, ProbeDone("s1", 0, True, 200), 0.1)
    state, _, _ = _fold(state, rules, ProbeDone("p1", 0, False, detail="timeout"), 0.2)
    assert state.trunks[0].state is TrunkState.SUSPECT
    _, effects, _ = _fold(state, rules, Tick(), 0.25)
    kinds = {(e.task.trunk, e.task.kind) for e in effects if isinstance(e, SendProbe)}
    assert ("s1", "correlate") in kinds  # not at s1's next regular probe, up to an interval later


def test_a_down_trunk_in_maintenance_is_left_out_of_this_vantages_view() -> None:
    from dataclasses import replace as _replace

    from trunkguard.core.failover import OperatorAction
    from trunkguard.core.health import TrunkHealth, TrunkState
    from trunkguard.core.machine import initial, own_view

    rules = machine_rules(parse_config(CONFIG), vantage="site-a")
    state = initial(rules, 0.0)
    down = [_replace(t, state=TrunkState.DOWN) if t.carrier == "primary" else t for t in state.trunks]
    state = _replace(state, trunks=tuple(down))
    assert "primary" in own_view(state, rules, 1.0).down
    names = [t.name for t in down if t.carrier == "primary"]
    kept = TrunkHealth(names[-1], "primary")  # one primary trunk answers; the others are in maintenance
    away = tuple(OperatorAction("maintenance", "dora", "sbc", 0.0, n, 1e9) for n in names[:-1])
    state = _replace(state, trunks=tuple(kept if t.name == kept.name else t for t in down),
                     groups=(_replace(state.groups[0], pair=_replace(state.pair, maintenance=away)),))
    assert "primary" not in own_view(state, rules, 1.0).down
