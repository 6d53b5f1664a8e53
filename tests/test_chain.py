"""Carrier chains: any number of carriers in priority order (issue 27, item 1).

The sentences of a move down that skips a carrier, one step at a time back up, a person's approved
jump, the config's rules for a chain, and the core's invariants as hypothesis properties over
chains of 2 to 4 carriers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkguard.config import parse_config
from trunkguard.core.failover import (
    Decision,
    Observation,
    OperatorAction,
    PairSnapshot,
    PairState,
    PolicyRules,
    Readiness,
    Swap,
    decide,
    operator,
    readiness_gaps,
    swap_finished,
)
from trunkguard.core.health import TrunkHealth, TrunkState
from trunkguard.errors import ConfigError

CHAIN = ("a", "b", "c")
RULES = PolicyRules(chain=CHAIN, cooling_period=60.0, failback_mode="sustained", sustained_recovery=30.0)
READY = Readiness(sweep_ok=True, certs_ok=True, parity_ok=True)
SWEEP_FAILED = Readiness(sweep_ok=False, certs_ok=True, parity_ok=True,
                         notes=(("sweep", "failed at 02:00: 12 DIDs answered 404"),))


def world(down: set[str], ready: dict[str, Readiness] | None = None, chain: tuple[str, ...] = CHAIN,
          calls: int = 0) -> Observation:
    trunks = tuple(TrunkHealth(f"{c}{i}", c, TrunkState.DOWN if c in down else TrunkState.UP)
                   for c in chain for i in (1, 2))
    return Observation(trunks, calls, ready if ready is not None else dict.fromkeys(chain[1:], READY))


def commit(d: Decision, at: float, rules: PolicyRules = RULES) -> PairSnapshot:
    assert d.swap is not None, d.sentence
    return swap_finished(d.snapshot, True, at, rules=rules).snapshot


def test_a_move_down_skips_a_carrier_not_ready_and_names_it() -> None:
    d = decide(PairSnapshot(active="a"), world({"a"}, {"b": SWEEP_FAILED, "c": READY}), 10.0, RULES)
    assert d.swap is not None and d.swap.to == "c" and d.swap.key == "swap-1-to-c"
    assert d.sentence.startswith("activating carrier c: no a trunk answers SIP, carrier b not ready (the DID sweep: "
                                 "failed at 02:00: 12 DIDs answered 404); c ready")
    assert d.snapshot.state is PairState.ACTIVATING


def test_no_ready_carrier_below_pages_once_naming_each() -> None:
    obs = world({"a", "c"}, {"b": SWEEP_FAILED, "c": READY})
    d = decide(PairSnapshot(active="a"), obs, 10.0, RULES)
    assert d.swap is None and [n.kind for n in d.intents] == ["secondary_not_ready"]
    assert "carrier b not ready (the DID sweep: failed at 02:00" in d.sentence
    assert "carrier c not ready (no c trunk is usable (0/2 trunks usable" in d.sentence
    again = decide(d.snapshot, obs, 20.0, RULES)
    assert again.intents == ()  # paged once


def test_the_way_back_goes_one_step_at_a_time_each_after_cooling_and_recovery() -> None:
    on_c = commit(decide(PairSnapshot(active="a"), world({"a", "b"}), 0.0, RULES), 1.0)
    assert on_c.active == "c" and on_c.state is PairState.SECONDARY_ACTIVE
    healthy = world(set())
    assert decide(on_c, healthy, 30.0, RULES).sentence.startswith("no action: on carrier c, cooling period")
    recovering = decide(on_c, healthy, 40.0, RULES).snapshot  # both upper carriers usable from here on
    waiting = decide(recovering, healthy, 62.0, RULES)
    assert waiting.swap is None and "b healthy for 22s of the 30s sustained recovery" in waiting.sentence
    step = decide(waiting.snapshot, healthy, 71.0, RULES)
    assert step.swap is not None and step.swap.to == "b", "one step up, not a jump to a"
    assert step.snapshot.state is PairState.RESTORING
    on_b = commit(step, 72.0)
    assert on_b.active == "b" and on_b.activated_at == 72.0  # cooling counts again from this step
    assert decide(on_b, healthy, 100.0, RULES).swap is None
    home = decide(on_b, healthy, 133.0, RULES)
    assert home.swap is not None and home.swap.to == "a"
    assert commit(home, 134.0).state is PairState.PRIMARY_ACTIVE


def test_a_person_may_approve_a_jump_over_a_healthy_carrier() -> None:
    rules = replace(RULES, failback_mode="approval")
    on_c = commit(decide(PairSnapshot(active="a"), world({"a", "b"}), 0.0, rules), 1.0, rules)
    healthy = world(set())
    plain = decide(on_c, healthy, 100.0, rules)
    assert plain.swap is None and plain.sentence == ("no action: b healthy (2/2 trunks usable) but failback needs a "
                                                     "person's approval")
    approve = operator(plain.snapshot, OperatorAction("failback", "ana", "a is fixed", 101.0, to="a"), 101.0, rules)
    assert "once the cooling period is over and carrier a is healthy" in approve.sentence
    jump = decide(approve.snapshot, healthy, 102.0, rules)
    assert jump.swap is not None and jump.swap.to == "a" and jump.swap.trigger == "operator"
    wrong = operator(plain.snapshot, OperatorAction("failback", "ana", "x", 101.0, to="c"), 101.0, rules)
    assert wrong.snapshot == plain.snapshot and "carrier c is not above carrier c" in wrong.sentence


def test_a_forced_failover_names_its_target_and_checks_what_it_does_not_skip() -> None:
    obs = world(set(), {"b": READY, "c": SWEEP_FAILED})
    to_c = operator(PairSnapshot(active="a"), OperatorAction("failover", "ana", "drill", 5.0, to="c"), 5.0, RULES, obs)
    assert to_c.swap is not None and to_c.swap.to == "c" and to_c.swap.trigger == "operator"
    gated = operator(PairSnapshot(active="a"), OperatorAction("failover", "ana", "x", 5.0, skip=("certs",), to="c"),
                     5.0, RULES, obs)
    assert gated.swap is None and "carrier c is still not ready: the DID sweep: failed at 02:00" in gated.sentence
    unknown = operator(PairSnapshot(active="a"), OperatorAction("failover", "ana", "x", 5.0, to="z"), 5.0, RULES, obs)
    assert unknown.swap is None and "'z' is not a carrier of the chain (a, b, c)" in unknown.sentence
    last = operator(PairSnapshot(active="c", state=PairState.SECONDARY_ACTIVE),
                    OperatorAction("failover", "ana", "x", 5.0), 5.0, RULES, obs)
    assert last.swap is None and last.sentence.endswith("the last of the chain")


def test_a_down_middle_carrier_moves_on_down_the_chain() -> None:
    on_b = commit(decide(PairSnapshot(active="a"), world({"a"}), 0.0, RULES), 1.0)
    assert on_b.active == "b"
    d = decide(on_b, world({"a", "b"}), 5.0, RULES)  # inside cooling: a move down never waits for it
    assert d.swap is not None and d.swap.to == "c"
    assert d.sentence.startswith("activating carrier c: no b trunk answers SIP; c ready")


# ---- the config ---------------------------------------------------------------------------------

def chain_yaml(chain: str | None, names: tuple[str, ...] = CHAIN, extra: str = "") -> str:
    carriers = "".join(f"  {n}:\n    trunk_group_id: tg-{n}\n    trunks: [{{name: {n}-1, uri: \"sip:127.0.0.{i + 1}:5060\"}}]\n"
                       for i, n in enumerate(names))
    return (f"chain: {chain}\n" if chain is not None else "") + f"carriers:\n{carriers}{extra}"


def test_a_chain_config_orders_the_carriers_and_gives_later_ones_the_faster_down() -> None:
    config = parse_config(chain_yaml("[c, a, b]"))
    assert config.carriers.chain == ("c", "a", "b")
    assert [config.carriers[n].health.down_after for n in ("c", "a", "b")] == [3, 2, 2]
    assert [t[0] for t in config.all_trunks()] == ["c", "a", "b"]


@pytest.mark.parametrize(("text", "problem"), [
    (chain_yaml("[a]"), ("chain", "a chain needs at least two carriers")),
    (chain_yaml("[a, b, a]"), ("chain[2]", "'a' is listed twice")),
    (chain_yaml("[a, b, d]"), ("chain[2]", "'d' is not a carrier: carriers has a, b, c")),
    (chain_yaml("[a, b]"), ("carriers.c", "is not in the chain")),
    (chain_yaml(None), ("chain", "list the carriers in priority order")),
])
def test_a_bad_chain_is_refused_with_the_field_named(text: str, problem: tuple[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert any(path == problem[0] and problem[1] in rule for path, rule in caught.value.problems), \
        caught.value.problems


def test_a_trunk_name_or_peer_used_twice_in_a_chain_is_refused() -> None:
    twice = chain_yaml("[a, b, c]").replace("name: c-1", "name: a-1")
    with pytest.raises(ConfigError, match=r"carriers.c.trunks\[0\].name: 'a-1' is used twice"):
        parse_config(twice)
    peer = chain_yaml("[a, b, c]").replace("127.0.0.3", "127.0.0.2")
    with pytest.raises(ConfigError, match=r"carriers.c.trunks\[0\].uri: .* same SIP peer as b.trunks\[0\]"):
        parse_config(peer)


# ---- the invariants, for chains of 2 to 4 ------------------------------------------------------

NAMES = ("a", "b", "c", "d")


@st.composite
def nights(draw: st.DrawFn) -> tuple[PolicyRules, list[tuple[str, object]]]:
    chain = NAMES[:draw(st.integers(2, 4))]
    rules = PolicyRules(chain=chain, cooling_period=draw(st.sampled_from([0.0, 30.0, 90.0])),
                        failback_mode=draw(st.sampled_from(["approval", "sustained"])),
                        sustained_recovery=draw(st.sampled_from([10.0, 60.0])),
                        max_active_calls=draw(st.sampled_from([0, 5])), hard_down_bypass=draw(st.booleans()))
    steps: list[tuple[str, object]] = []
    for _ in range(draw(st.integers(5, 40))):
        kind = draw(st.sampled_from(["world", "world", "tick", "settle", "approve", "force"]))
        if kind == "world":
            down = frozenset(draw(st.sets(st.sampled_from(chain))))
            ready = {c: Readiness(sweep_ok=draw(st.sampled_from([True, True, False, None])), certs_ok=True,
                                  parity_ok=True) for c in chain[1:]}
            steps.append((kind, (down, ready, draw(st.sampled_from([0, 3, 9])))))
        elif kind == "settle":
            steps.append((kind, draw(st.booleans())))
        elif kind in ("approve", "force"):
            steps.append((kind, draw(st.sampled_from([None, *chain]))))
        else:
            steps.append((kind, draw(st.sampled_from([1.0, 10.0, 45.0]))))
    return rules, steps


@settings(max_examples=400, deadline=None)
@given(nights())
def test_the_chain_invariants_hold_for_any_night(night: tuple[PolicyRules, list[tuple[str, object]]]) -> None:
    """Never two swaps in flight; never a move up inside cooling, or without recovery or approval;
    never a move down to a carrier that is not ready unless a person forced it; an automatic move up
    is one step (every carrier it passes over could not take the calls)."""
    rules, steps = night
    chain = rules.chain
    snap, now = PairSnapshot(active=chain[0]), 0.0
    obs = world(set(), chain=chain)
    for kind, arg in steps:
        now += 1.0
        if kind == "world":
            down, ready, calls = arg  # type: ignore[misc]
            obs = world(set(down), ready, chain, calls)
            d = decide(snap, obs, now, rules)
        elif kind == "tick":
            now += float(arg)  # type: ignore[arg-type]
            d = decide(snap, obs, now, rules)
        elif kind == "settle":
            if snap.in_flight is None:
                continue
            d = swap_finished(snap, bool(arg), now, rules=rules)
        else:
            action = OperatorAction("failback" if kind == "approve" else "failover", "ana", "night", now,
                                    to=arg if isinstance(arg, str) else None)
            d = operator(snap, action, now, rules, obs)
        swap = d.swap
        if swap is not None:
            assert snap.in_flight is None, "two swaps in flight"
            assert swap.to != snap.active and swap.to in chain
            here, there = rules.rank(snap.active), rules.rank(swap.to)
            usable = {c: not all(t.state is TrunkState.DOWN for t in obs.carrier(c)) for c in chain}
            if there < here:  # up the chain
                activated = snap.activated_at if snap.activated_at is not None else snap.since
                assert now - activated >= rules.cooling_period, "moved up inside the cooling period"
                assert usable[swap.to], "moved up to a carrier that is down"
                if swap.to != chain[0]:
                    assert readiness_gaps(obs, rules, swap.to) == [], "moved up to a carrier not ready"
                if rules.failback_mode == "approval":
                    assert swap.trigger == "operator", "moved up without approval"
                if swap.trigger == "automatic":
                    since = d.snapshot.usable_since(swap.to)
                    assert since is not None and now - since >= rules.sustained_recovery, "no sustained recovery"
                    for between in chain[there + 1:here]:
                        assert not usable[between] or readiness_gaps(obs, rules, between), "jumped without a person"
            elif kind != "force":  # a person's forced failover skips readiness knowingly
                assert readiness_gaps(obs, rules, swap.to) == [], "moved down to a carrier not ready"
                assert not usable[snap.active] or swap.trigger == "operator"
        assert isinstance(d.intents, tuple) and all(not isinstance(i, Swap) or i is swap for i in d.intents)
        snap = d.snapshot


def test_simulate_takes_a_chain_and_a_failback_to_a_named_carrier() -> None:
    from trunkguard.config import load_config
    from trunkguard.rules import sim_world
    from trunkguard.sim.runner import Simulation
    from trunkguard.sim.scenario import Scenario

    config = load_config(Path(__file__).resolve().parent.parent / "examples" / "chain.yaml")
    scenario = Scenario.model_validate({"duration": 2000, "events": [
        {"at": 100, "trunk": "b-1", "condition": "down"},  # b not ready, then a down: to c
        {"at": 200, "trunk": "a-1", "condition": "down"},
        {"at": 600, "trunk": "a-1", "condition": "up"},
        {"at": 650, "trunk": "b-1", "condition": "up"},
        {"at": 1000, "operator": "failback", "to": "carrier-a", "who": "ana", "reason": "a is fixed"}]})
    sim = Simulation(sim_world(config), scenario, seed=1)
    sim.run()
    assert [s["to"] for s in sim.result.swaps] == ["carrier-c", "carrier-a"]  # the jump skips carrier-b
    with pytest.raises(ValueError, match="is only for operator failover or failback"):
        Scenario.model_validate({"duration": 10, "events": [{"at": 1, "operator": "pause", "to": "carrier-a"}]})


def test_the_next_step_up_passes_over_a_carrier_still_down() -> None:
    """One step at a time means not crossing a carrier that could take the calls; one still down is
    passed over, as a move down passes over one not ready."""
    on_c = commit(decide(PairSnapshot(active="a"), world({"a", "b"}), 0.0, RULES), 1.0)
    b_down = world({"b"})
    seen = decide(on_c, b_down, 70.0, RULES).snapshot  # a usable from here on
    step = decide(seen, b_down, 101.0, RULES)
    assert step.swap is not None and step.swap.to == "a", step.sentence
    quiet = decide(on_c, world({"a", "b"}), 70.0, RULES)
    assert quiet.swap is None and quiet.sentence == ("no action: on carrier c; carrier b still down (0/2 trunks usable "
                                                     "(b1 down, b2 down)); carrier a still down (0/2 trunks usable "
                                                     "(a1 down, a2 down))")


def test_with_vantages_the_quorum_judges_a_later_active_carrier_too() -> None:
    from trunkguard.core.vantage import QuorumRules, VantageView

    rules = replace(RULES, quorum=QuorumRules(names=("x", "y"), need=2))
    on_b = PairSnapshot(active="b", state=PairState.SECONDARY_ACTIVE, activated_at=0.0)
    here_down = world({"a", "b"})

    def views(*seeing_b_down: str) -> dict[str, VantageView]:
        return {n: VantageView(n, 10.0, down=("a", "b") if n in seeing_b_down else ("a",), hard=(),
                               reaches=("c",) if n in seeing_b_down else ("b", "c")) for n in ("x", "y")}

    one = decide(on_b, replace(here_down, vantages=views("x")), 10.0, rules)
    assert one.swap is None, one.sentence  # only x sees b down: not enough to leave it
    both = decide(on_b, replace(here_down, vantages=views("x", "y")), 10.0, rules)
    assert both.swap is not None and both.swap.to == "c" and "b down from 2 of 2 vantages" in both.sentence


# ---- from a review of the chain policy (each failed before its fix) ---------------------------------

def _on(active: str, **kw: object) -> PairSnapshot:
    return PairSnapshot(active=active, state=PairState.SECONDARY_ACTIVE, activated_at=0.0, **kw)  # type: ignore[arg-type]


def test_a_queued_move_off_a_later_carrier_is_cancelled_when_it_recovers_and_its_next_outage_pages_again() -> None:
    rules = replace(RULES, failback_mode="approval", hard_down_bypass=False, max_active_calls=5)
    queued = decide(_on("b"), world({"a", "b"}, calls=9), 10.0, rules)
    assert queued.snapshot.state is PairState.ACTIVATING and [n.kind for n in queued.intents] == ["activation_queued"]
    back = decide(queued.snapshot, world({"a"}), 20.0, rules)
    assert back.snapshot.state is PairState.SECONDARY_ACTIVE and back.snapshot.queued_since is None
    assert [n.kind for n in back.intents] == ["activation_cancelled"]
    again = decide(back.snapshot, world({"a", "b"}, calls=9), 5000.0, rules)
    assert [n.kind for n in again.intents] == ["activation_queued"]  # paged again, not "queued for 4990s"


def test_a_later_carriers_second_outage_pages_not_ready_again() -> None:
    not_ready = {"b": READY, "c": SWEEP_FAILED}
    first = decide(_on("b"), world({"a", "b"}, not_ready), 10.0, RULES)
    assert [n.kind for n in first.intents] == ["secondary_not_ready"]
    fine = decide(first.snapshot, world({"a"}, not_ready), 20.0, RULES)
    second = decide(fine.snapshot, world({"a", "b"}, not_ready), 9000.0, RULES)
    assert [n.kind for n in second.intents] == ["secondary_not_ready"]


def test_nothing_below_ready_but_a_carrier_above_usable_points_the_page_at_failback() -> None:
    rules = replace(RULES, failback_mode="approval")
    d = decide(_on("b"), world({"b"}, {"b": READY, "c": SWEEP_FAILED}), 100.0, rules)
    assert d.swap is None
    page = next(n for n in d.intents if n.kind == "secondary_not_ready")
    assert "`trunkguard failback --reason ...` approves the return to it" in page.message
    assert "failback needs a person's approval" in d.sentence and "failback_ready" in [n.kind for n in d.intents]


def test_an_active_carrier_not_in_the_chain_moves_down_from_the_top() -> None:
    gone = PairSnapshot(active="x", state=PairState.SECONDARY_ACTIVE, activated_at=0.0)
    d = decide(gone, world({"a"}), 100.0, RULES)
    assert d.swap is not None and d.swap.to == "b" and not d.swap.up, d.sentence
    assert d.snapshot.state is PairState.ACTIVATING
    forced = operator(gone, OperatorAction("failover", "ana", "drill", 101.0), 101.0, RULES, world(set()))
    assert forced.swap is not None and forced.swap.to == "a" and not forced.swap.up  # the top of the chain


def test_a_stored_approval_that_no_longer_points_up_the_chain_is_dropped() -> None:
    rules = replace(RULES, chain=("a", "c", "b"), failback_mode="approval")
    stale = _on("c", approval=OperatorAction("failback", "ana", "b", 1.0, to="b"))
    d = decide(stale, world(set()), 500.0, rules)
    assert d.swap is None or d.swap.to == "a", d.sentence
    assert d.snapshot.approval is None


def test_a_jump_approval_outlives_an_automatic_step_below_it() -> None:
    jump = _on("c", approval=OperatorAction("failback", "ana", "to a", 1.0, to="a"))
    step = decide(jump, world({"a"}), 100.0, RULES)  # sustained: b recovered, a not yet
    step = decide(step.snapshot, world({"a"}), 140.0, RULES)
    assert step.swap is not None and step.swap.to == "b" and step.swap.trigger == "automatic"
    on_b = swap_finished(step.snapshot, True, 141.0, rules=RULES).snapshot
    assert on_b.approval is not None and on_b.approval.to == "a"


def test_failover_and_failback_to_a_carrier_not_in_the_chain_is_a_usage_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from trunkguard.cli import app

    config = tmp_path / "chain.yaml"
    config.write_text(chain_yaml("[a, b, c]"))
    for kind in ("failover", "failback"):
        result = CliRunner().invoke(app, [kind, "--config", str(config), "--reason", "drill", "--to", "z", "--force"]
                                    if kind == "failover" else [kind, "--config", str(config), "--reason", "drill",
                                                                "--to", "z"])
        assert result.exit_code == 2, result.output
        assert "--to must be one of the chain's carriers (a, b, c), not 'z'" in result.output
