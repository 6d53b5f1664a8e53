"""The carrier-pair policy: activation, readiness gates, breaker, cooling, failback, operators."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trunkguard.core.failover import (
    Notify,
    Observation,
    OperatorAction,
    PairSnapshot,
    PairState,
    PolicyRules,
    Readiness,
    Swap,
    decide,
    operator,
    swap_finished,
)
from trunkguard.core.health import TrunkHealth, TrunkState

RULES = PolicyRules()
READY = Readiness(sweep_ok=True, certs_ok=True, parity_ok=True)


def world(primary: TrunkState = TrunkState.UP, secondary: TrunkState = TrunkState.UP, *, calls: int | None = 0,
          readiness: Readiness = READY, primary_media: bool | None = None) -> Observation:
    return Observation((TrunkHealth("p1", "primary", primary, media_ok=primary_media),
                        TrunkHealth("p2", "primary", primary, media_ok=primary_media),
                        TrunkHealth("s1", "secondary", secondary)), calls, readiness)


def kinds(intents: tuple[object, ...]) -> list[str]:
    return [i.kind if isinstance(i, Notify) else f"swap->{i.to}" for i in intents if isinstance(i, Notify | Swap)]


def on_secondary(at: float = 100.0) -> PairSnapshot:
    d = decide(PairSnapshot(), world(TrunkState.DOWN), at, RULES)
    return swap_finished(d.snapshot, True, at + 0.3).snapshot


def test_healthy_primary_no_action() -> None:
    d = decide(PairSnapshot(), world(), 5.0, RULES)
    assert d.intents == () and d.snapshot.state is PairState.PRIMARY_ACTIVE
    assert d.sentence == "no action: primary carrier healthy, 2/2 trunks usable"


def test_primary_down_and_secondary_ready_swaps_once() -> None:
    d = decide(PairSnapshot(), world(TrunkState.DOWN), 10.0, RULES)
    assert d.swap is not None and d.swap.to == "secondary" and d.swap.trigger == "automatic"
    assert d.swap.key == "swap-1-to-secondary"
    assert d.snapshot.state is PairState.ACTIVATING and d.snapshot.in_flight == d.swap
    assert d.sentence.startswith("activating the secondary carrier: no primary trunk answers SIP")
    again = decide(d.snapshot, world(TrunkState.DOWN), 10.1, RULES)
    assert again.intents == () and again.sentence.startswith("waiting: the swap to the secondary carrier is in flight")
    done = swap_finished(d.snapshot, True, 10.3)
    assert done.snapshot.state is PairState.SECONDARY_ACTIVE and done.snapshot.active == "secondary"
    assert kinds(done.intents) == ["swap_committed"]


def test_media_failure_on_every_primary_trunk_counts_as_down() -> None:
    d = decide(PairSnapshot(), world(primary_media=False), 10.0, RULES)
    assert d.swap is not None
    assert "primary carrier unusable (0/2 trunks usable (p1 up media failed, p2 up media failed))" in d.sentence


@pytest.mark.parametrize(
    ("obs", "gap"),
    [
        (world(TrunkState.DOWN, TrunkState.DOWN), "no secondary trunk is usable (0/1 trunks usable (s1 down))"),
        (world(TrunkState.DOWN, readiness=replace(READY, sweep_ok=None)), "the DID sweep has not run"),
        (world(TrunkState.DOWN, readiness=replace(READY, sweep_ok=False)), "the DID sweep failed"),
        (world(TrunkState.DOWN, readiness=replace(READY, certs_ok=False)), "TLS certificates failed"),
        (world(TrunkState.DOWN, readiness=replace(READY, parity_ok=False)), "profile parity failed"),
    ],
)
def test_each_readiness_gate_blocks_and_says_why_once(obs: Observation, gap: str) -> None:
    d = decide(PairSnapshot(), obs, 10.0, RULES)
    assert d.swap is None and gap in d.sentence
    assert kinds(d.intents) == ["secondary_not_ready"]
    assert kinds(decide(d.snapshot, obs, 20.0, RULES).intents) == []  # told once per episode


def test_a_gate_switched_off_in_config_is_not_checked() -> None:
    rules = replace(RULES, gates=frozenset({"trunks", "certs", "parity"}))
    d = decide(PairSnapshot(), world(TrunkState.DOWN, readiness=replace(READY, sweep_ok=None)), 10.0, rules)
    assert d.swap is not None


def test_breaker_queues_rechecks_escalates_then_runs_by_itself() -> None:
    busy = world(primary_media=False, calls=12)  # SIP answers: calls may still be up, so the breaker holds
    d = decide(PairSnapshot(), busy, 10.0, RULES)
    assert d.swap is None and d.snapshot.state is PairState.ACTIVATING and kinds(d.intents) == ["activation_queued"]
    assert "12 active calls and the breaker allows fewer than 5; re-checking every 10s" in d.sentence
    d = decide(d.snapshot, busy, 20.0, RULES)
    assert d.intents == () and d.sentence == "activation queued for 10s: 12 active calls, the breaker allows fewer than 5"
    d = decide(d.snapshot, busy, 130.0, RULES)
    assert kinds(d.intents) == ["activation_escalated"]
    d = decide(d.snapshot, replace(busy, active_calls=3), 140.0, RULES)
    assert d.swap is not None and d.swap.trigger == "automatic"


def test_unknown_call_count_queues_too() -> None:
    d = decide(PairSnapshot(), world(primary_media=False, calls=None), 10.0, RULES)
    assert d.swap is None and "the active call count is unknown" in d.sentence


def test_hard_down_primary_bypasses_the_breaker_by_default() -> None:
    d = decide(PairSnapshot(), world(TrunkState.DOWN, calls=40), 10.0, RULES)
    assert d.swap is not None and "breaker bypassed: calls on a dead trunk cannot be split" in d.sentence
    strict = decide(PairSnapshot(), world(TrunkState.DOWN, calls=40), 10.0, replace(RULES, hard_down_bypass=False))
    assert strict.swap is None and strict.snapshot.state is PairState.ACTIVATING


def test_primary_recovering_while_queued_cancels_the_activation() -> None:
    d = decide(PairSnapshot(), world(primary_media=False, calls=12), 10.0, RULES)
    d = decide(d.snapshot, world(calls=12), 20.0, RULES)
    assert d.snapshot.state is PairState.PRIMARY_ACTIVE and kinds(d.intents) == ["activation_cancelled"]


def test_no_failback_inside_cooling_even_with_approval() -> None:
    snap = on_secondary(100.0)
    snap = operator(snap, OperatorAction("failback", "alice", "ticket closed", 120.0), 120.0).snapshot
    d = decide(snap, world(), 150.0, RULES)
    assert d.swap is None and "cooling period" in d.sentence
    d = decide(snap, world(), 190.4, RULES)
    assert d.swap is not None and d.swap.to == "primary" and d.swap.trigger == "operator"
    assert "approved by alice (ticket closed)" in d.swap.reason
    done = swap_finished(d.snapshot, True, 190.7)
    assert done.snapshot.state is PairState.PRIMARY_ACTIVE and kinds(done.intents) == ["failback_committed"]


def test_approval_mode_never_returns_by_itself() -> None:
    snap = on_secondary(100.0)
    d = decide(snap, world(), 200.0, RULES)
    assert d.swap is None and d.snapshot.state is PairState.FAILBACK_PENDING and kinds(d.intents) == ["failback_ready"]
    for t in (300.0, 3600.0, 86_400.0):
        d = decide(d.snapshot, world(), t, RULES)
        assert d.swap is None


def test_approved_failback_waits_while_the_primary_is_down() -> None:
    snap = on_secondary(100.0)
    snap = operator(snap, OperatorAction("failback", "bob", "try it", 300.0), 300.0).snapshot
    d = decide(snap, world(TrunkState.DOWN), 301.0, RULES)
    assert d.swap is None and "failback approved by bob, waiting for it" in d.sentence


def test_sustained_mode_returns_after_five_minutes_of_health() -> None:
    rules = replace(RULES, failback_mode="sustained")
    snap = on_secondary(100.0)
    d = decide(snap, world(), 150.0, rules)  # healthy from 150 s (inside cooling)
    d = decide(d.snapshot, world(), 449.0, rules)
    assert d.swap is None and "of the 5m sustained recovery needed" in d.sentence
    d = decide(d.snapshot, world(), 450.0, rules)
    assert d.swap is not None and d.swap.trigger == "automatic" and d.swap.to == "primary"


def test_sustained_mode_restarts_the_clock_on_a_relapse() -> None:
    rules = replace(RULES, failback_mode="sustained")
    d = decide(on_secondary(100.0), world(), 200.0, rules)
    d = decide(d.snapshot, world(TrunkState.DOWN), 400.0, rules)
    d = decide(d.snapshot, world(), 410.0, rules)
    d = decide(d.snapshot, world(), 600.0, rules)
    assert d.swap is None
    assert decide(d.snapshot, world(), 710.0, rules).swap is not None


def test_pause_stops_automatic_action_and_resume_restores_it() -> None:
    snap = operator(PairSnapshot(), OperatorAction("pause", "carol", "carrier maintenance", 1.0), 1.0).snapshot
    healthy = decide(snap, world(), 5.0, RULES)
    assert healthy.intents == () and healthy.sentence == (
        "no action: automatic actions are paused by carol (carrier maintenance); routing stays on the primary carrier")
    d = decide(snap, world(TrunkState.DOWN), 10.0, RULES)
    assert d.swap is None and d.snapshot.in_flight is None and d.snapshot.swaps == 0
    assert d.sentence.startswith("paused by carol (carrier maintenance): not acting; unpaused it would be: "
                                 "activating the secondary carrier: no primary trunk answers SIP")
    snap = operator(d.snapshot, OperatorAction("resume", "carol", "done", 20.0), 20.0).snapshot
    assert decide(snap, world(TrunkState.DOWN), 21.0, RULES).swap is not None


def test_a_paused_pair_still_pages_when_the_primary_dies_once_per_outage() -> None:
    snap = operator(PairSnapshot(), OperatorAction("pause", "carol", "maintenance", 1.0), 1.0).snapshot
    d = decide(snap, world(TrunkState.DOWN), 10.0, RULES)
    assert kinds(d.intents) == ["paused_would_swap"]
    page = d.intents[0]
    assert isinstance(page, Notify) and page.severity == "critical" and "unpaused this would run now" in page.message
    again = decide(d.snapshot, world(TrunkState.DOWN), 20.0, RULES)
    assert again.intents == ()  # once per outage
    healed = decide(again.snapshot, world(), 30.0, RULES)
    assert decide(healed.snapshot, world(TrunkState.DOWN), 40.0, RULES).intents != ()  # a new outage pages again


def test_a_paused_pair_pages_a_dead_primary_even_when_no_swap_would_run() -> None:
    snap = operator(PairSnapshot(), OperatorAction("pause", "carol", "maintenance", 1.0), 1.0).snapshot
    d = decide(snap, world(TrunkState.DOWN, TrunkState.DOWN), 10.0, RULES)  # the secondary is down too
    assert kinds(d.intents) == ["paused_primary_down"] and d.swap is None


def test_observe_mode_says_what_it_would_do_pages_once_and_never_swaps() -> None:
    rules = replace(RULES, observe=True)
    d = decide(PairSnapshot(), world(TrunkState.DOWN), 10.0, rules)
    assert d.swap is None and d.snapshot.in_flight is None and d.snapshot.active == "primary"
    assert d.sentence.startswith("observe mode: would swap to the secondary carrier (activating the secondary "
                                 "carrier: no primary trunk answers SIP")
    assert d.sentence.endswith("nothing written") and kinds(d.intents) == ["would_swap_to_secondary"]
    assert decide(d.snapshot, world(TrunkState.DOWN), 20.0, rules).intents == ()
    forced = operator(d.snapshot, OperatorAction("failover", "erin", "drill", 25.0), 25.0, rules)
    assert forced.swap is None and forced.sentence.startswith("observe mode: would swap")


def test_pause_cancels_a_queued_activation() -> None:
    d = decide(PairSnapshot(), world(primary_media=False, calls=12), 10.0, RULES)
    snap = operator(d.snapshot, OperatorAction("pause", "dan", "wait", 15.0), 15.0).snapshot
    assert decide(snap, world(primary_media=False, calls=0), 30.0, RULES).swap is None


def test_forced_failover_skips_readiness_and_breaker() -> None:
    obs = world(TrunkState.UP, TrunkState.DOWN, calls=50, readiness=Readiness())
    d = operator(PairSnapshot(), OperatorAction("failover", "erin", "carrier announced an outage", 5.0), 5.0)
    assert d.swap is not None and d.swap.trigger == "operator"
    assert d.swap.reason == "forced by erin (carrier announced an outage); readiness and breaker not checked"
    assert decide(d.snapshot, obs, 5.1, RULES).swap is None  # in flight


def test_no_second_swap_while_one_is_in_flight() -> None:
    d = decide(PairSnapshot(), world(TrunkState.DOWN), 10.0, RULES)
    refused = operator(d.snapshot, OperatorAction("failover", "frank", "now", 10.1), 10.1)
    assert refused.swap is None and "refused: a swap to the secondary carrier is in flight" in refused.sentence


def test_a_failed_swap_leaves_routing_and_retries_at_the_next_poll() -> None:
    d = decide(PairSnapshot(), world(TrunkState.DOWN), 10.0, RULES)
    failed = swap_finished(d.snapshot, False, 12.0, "platform answered 503 until the deadline")
    assert failed.snapshot.active == "primary" and failed.snapshot.in_flight is None
    assert kinds(failed.intents) == ["swap_failed"]
    retry = decide(failed.snapshot, world(TrunkState.DOWN), 20.0, RULES)
    assert retry.swap is not None and retry.swap.key == "swap-2-to-secondary"


def test_the_platforms_edge_seeing_the_secondary_out_of_service_blocks_activation() -> None:
    obs = replace(world(TrunkState.DOWN), edge={"primary": False, "secondary": False})
    d = decide(PairSnapshot(), obs, 10.0, RULES)
    assert d.swap is None
    assert "the platform's edge sees no secondary trunk in service answering OPTIONS" in d.sentence


def test_the_edge_still_seeing_the_primary_up_is_noted_but_does_not_veto() -> None:
    obs = replace(world(TrunkState.DOWN), edge={"primary": True, "secondary": True})
    d = decide(PairSnapshot(), obs, 10.0, RULES)
    assert d.swap is not None
    assert "the platform's edge still sees the primary answering OPTIONS" in d.swap.reason
    unknown = decide(PairSnapshot(), replace(world(TrunkState.DOWN), edge={"secondary": None}), 10.0, RULES)
    assert unknown.swap is not None  # no view is not a veto either


def test_an_acknowledgement_changes_nothing_but_tells_the_pager_and_is_remembered_until_calm() -> None:
    snap = on_secondary()
    ack = OperatorAction("ack", "dave", "looking at it", 120.0)
    d = operator(snap, ack, 120.0)
    assert d.snapshot == replace(snap, acked=ack) and d.swap is None  # only who acknowledged, for the page's header
    assert kinds(d.intents) == ["acknowledged"]
    assert d.sentence.startswith("acknowledged by dave (looking at it)")


def _carrier(usable: int, total: int) -> Observation:
    primary = tuple(TrunkHealth(f"p{i}", "primary", TrunkState.UP if i < usable else TrunkState.DOWN)
                    for i in range(total))
    return Observation((*primary, TrunkHealth("s1", "secondary")), 0, READY)


def test_by_default_the_primary_is_down_only_when_no_trunk_is_usable() -> None:
    assert decide(PairSnapshot(), _carrier(1, 10), 5.0, RULES).swap is None
    d = decide(PairSnapshot(), _carrier(0, 10), 5.0, RULES)
    assert d.swap is not None and "no primary trunk answers SIP" in d.sentence


def test_a_partial_outage_rule_swaps_and_says_which_rule_fired() -> None:
    rules = replace(RULES, down_below=3)
    assert decide(PairSnapshot(), _carrier(3, 10), 5.0, rules).swap is None
    d = decide(PairSnapshot(), _carrier(2, 10), 5.0, rules)
    assert d.swap is not None
    assert "primary carrier down by policy.primary_down_when: fewer than 3 trunks usable (2/10 trunks usable" \
        in d.sentence
    half = replace(RULES, down_fraction=0.5)
    assert decide(PairSnapshot(), _carrier(5, 10), 5.0, half).swap is None
    d = decide(PairSnapshot(), _carrier(4, 10), 5.0, half)
    assert d.swap is not None and "less than 50% of its trunks usable" in d.sentence


def test_failback_waits_until_the_partial_outage_rule_no_longer_fires() -> None:
    rules = replace(RULES, down_below=3, cooling_period=0.0)
    d = decide(PairSnapshot(), _carrier(2, 10), 5.0, rules)
    snap = swap_finished(d.snapshot, True, 5.5).snapshot
    assert "the primary is still down" in decide(snap, _carrier(2, 10), 100.0, rules).sentence
    assert decide(snap, _carrier(3, 10), 110.0, rules).snapshot.state is PairState.FAILBACK_PENDING


def _maintain(snap: PairSnapshot, trunk: str, at: float, until: float) -> PairSnapshot:
    d = operator(snap, OperatorAction("maintenance", "dora", "carrier works on sbc1", at, trunk, until), at)
    assert kinds(d.intents) == ["maintenance"] and d.sentence.startswith(f"trunk {trunk} in maintenance until ")
    return d.snapshot


def test_a_trunk_in_maintenance_is_left_out_of_decisions_until_it_ends_by_itself() -> None:
    """A down trunk in maintenance does not count against its carrier; a healthy one still carries calls, so
    with p1 down and p2 in maintenance but answering, the primary is not down (it would not be without the
    maintenance either)."""
    obs = Observation((TrunkHealth("p1", "primary", TrunkState.DOWN), TrunkHealth("p2", "primary"),
                       TrunkHealth("s1", "secondary")), 0, READY)
    snap = _maintain(PairSnapshot(), "p2", 10.0, 100.0)
    d = decide(snap, obs, 20.0, RULES)
    assert d.swap is None and d.sentence == ("no action: primary carrier healthy, 1/2 trunks usable (p1 down) "
                                             "(in maintenance, not counted against the carrier: p2)")
    both_down = replace(obs, trunks=(TrunkHealth("p1", "primary", TrunkState.DOWN),
                                     TrunkHealth("p2", "primary", TrunkState.DOWN), TrunkHealth("s1", "secondary")))
    d = decide(snap, both_down, 20.0, RULES)
    assert d.swap is not None and d.sentence.startswith("activating the secondary carrier: no primary trunk answers")
    healthy = decide(_maintain(PairSnapshot(), "p1", 10.0, 100.0), obs, 20.0, RULES)
    assert healthy.swap is None and healthy.sentence == ("no action: primary carrier healthy, 1/1 trunks usable "
                                                         "(in maintenance, not counted against the carrier: p1)")
    ended = decide(_maintain(PairSnapshot(), "p1", 10.0, 100.0), obs, 100.0, RULES)
    assert ended.sentence.startswith("maintenance of p1 ended by itself; ") and ended.snapshot.maintenance == ()
    assert "maintenance_ended" in kinds(ended.intents)


def _three(*down: str) -> Observation:
    primary = (TrunkHealth(n, "primary", TrunkState.DOWN if n in down else TrunkState.UP) for n in ("a1", "a2", "a3"))
    return Observation((*primary, TrunkHealth("s1", "secondary")), 0, READY)


def test_maintenance_of_a_healthy_trunk_never_swaps_under_fewer_usable_than() -> None:
    """Regression (rollout item 1): three healthy trunks and `fewer_usable_than: 3`; putting a2 into
    maintenance used to commit a swap at once ("fewer than 3 trunks usable (2/2 trunks usable)")."""
    rules = replace(RULES, down_below=3)
    assert decide(PairSnapshot(), _three(), 5.0, rules).swap is None
    d = decide(_maintain(PairSnapshot(), "a2", 10.0, 700.0), _three(), 11.0, rules)
    assert d.swap is None and d.sentence.startswith("no action: primary carrier healthy, 3/3 trunks usable")
    # a2 down while in maintenance: the threshold drops by one, so 2 usable of the others is still enough
    assert decide(_maintain(PairSnapshot(), "a2", 10.0, 700.0), _three("a2"), 12.0, rules).swap is None
    # a1 failing as well leaves 1 usable where 2 are needed: that is a real outage
    d = decide(_maintain(PairSnapshot(), "a2", 10.0, 700.0), _three("a1", "a2"), 13.0, rules)
    assert d.swap is not None and "fewer than 2 trunks usable" in d.sentence


def test_usable_fraction_is_taken_over_the_trunks_not_left_out() -> None:
    rules = replace(RULES, down_fraction=0.5)
    primary = (TrunkHealth(f"a{i}", "primary", TrunkState.DOWN if i in (1, 2) else TrunkState.UP) for i in range(1, 5))
    four = Observation((*primary, TrunkHealth("s1", "secondary")), 0, READY)
    assert decide(PairSnapshot(), four, 5.0, rules).swap is None  # 2/4 is not below half
    # a1 (down) in maintenance: 2 of the 3 others usable
    assert decide(_maintain(PairSnapshot(), "a1", 1.0, 700.0), four, 5.0, rules).swap is None
    # a3 (healthy) in maintenance: it still carries calls, so still 2/4, not 1/3
    assert decide(_maintain(PairSnapshot(), "a3", 1.0, 700.0), four, 5.0, rules).swap is None


def test_maintenance_of_every_primary_trunk_means_no_action_and_end_brings_them_back() -> None:
    snap = _maintain(_maintain(PairSnapshot(), "p1", 1.0, 1e9), "p2", 1.0, 1e9)
    d = decide(snap, world(TrunkState.DOWN), 5.0, RULES)
    assert d.swap is None and d.sentence.startswith("no action: every primary trunk is in maintenance")
    back = operator(snap, OperatorAction("maintenance_end", "dora", "done", 6.0, "p1"), 6.0)
    assert back.sentence == "maintenance of trunk p1 ended by dora (done): back in decisions"
    assert decide(back.snapshot, world(TrunkState.DOWN), 7.0, RULES).swap is not None
    ignored = operator(back.snapshot, OperatorAction("maintenance_end", "dora", "again", 8.0, "p1"), 8.0)
    assert "ignored" in ignored.sentence and ignored.intents == ()


def test_maintenance_survives_the_snapshot_codec() -> None:
    from trunkguard.store.codec import snapshot_from_json, snapshot_to_json

    snap = _maintain(PairSnapshot(), "p2", 10.0, 100.0)
    assert snapshot_from_json(snapshot_to_json(snap)) == snap


_STATES = st.sampled_from([TrunkState.UP, TrunkState.SUSPECT, TrunkState.DOWN, TrunkState.RECOVERING])


@settings(max_examples=400, deadline=None)
@given(states=st.lists(_STATES, min_size=1, max_size=6), media=st.lists(st.sampled_from([None, True, False]),
                                                                         min_size=6, max_size=6),
       away=st.sets(st.integers(0, 5)), below=st.integers(1, 7), fraction=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]),
       pick=st.integers(0, 5), ending=st.booleans(), secondary_up=st.booleans())
def test_maintenance_of_a_healthy_trunk_never_changes_whether_a_swap_happens(
        states: list[TrunkState], media: list[bool | None], away: set[int], below: int, fraction: float, pick: int,
        ending: bool, secondary_up: bool) -> None:
    """For any outage pattern and primary_down_when rule: putting a healthy trunk into maintenance (or ending
    its maintenance) never causes a swap that would not have happened without it, nor stops one."""
    trunks = [TrunkHealth(f"a{i}", "primary", s, media_ok=media[i]) for i, s in enumerate(states)]
    healthy = [t.name for t in trunks if t.usable]
    assume(healthy)
    x = healthy[pick % len(healthy)]
    obs = Observation((*trunks, TrunkHealth("s1", "secondary", TrunkState.UP if secondary_up else TrunkState.DOWN)),
                      0, READY)
    rules = replace(RULES, down_below=below, down_fraction=fraction)
    others = {f"a{i}" for i in away if i < len(trunks)} - {x}
    assume(others | {x} != {t.name for t in trunks})  # every trunk in maintenance: nothing to judge by (own rule)
    without = PairSnapshot()
    for name in sorted(others):
        without = _maintain(without, name, 1.0, 1e9)
    with_x = _maintain(without, x, 1.0, 1e9)
    if ending:  # ending x's maintenance rather than starting it: the same two worlds, read the other way
        with_x = operator(with_x, OperatorAction("maintenance_end", "dora", "done", 2.0, x), 2.0).snapshot
        with_x, without = without, _maintain(without, x, 1.0, 1e9)
    a, b = decide(without, obs, 5.0, rules), decide(with_x, obs, 5.0, rules)
    assert (a.swap is None) == (b.swap is None), (a.sentence, b.sentence)


def test_a_partial_sweep_lets_only_a_hard_down_primary_swap_and_the_page_names_the_dids() -> None:
    """Issue 24 item 6: sweep_min_ready below 1."""
    rules = replace(RULES, sweep_min_ready=0.8)
    partial = replace(READY, sweep_ok=False, sweep_ready=0.9, sweep_unready=("+15550000007", "+15550000011"))
    d = decide(PairSnapshot(), world(TrunkState.DOWN, readiness=partial), 10.0, rules)
    assert d.swap is not None and "secondary ready but for the DID sweep (90% of the DIDs proven, 80% needed)" \
        in d.sentence
    [page] = [i for i in d.intents if isinstance(i, Notify) and i.kind == "partial_sweep"]
    assert "DIDs left unreachable: +15550000007, +15550000011" in page.message
    # not hard down (SIP answers, media fails): the sweep gate holds as before
    media_dead = decide(PairSnapshot(), world(TrunkState.UP, primary_media=False, readiness=partial), 10.0, rules)
    assert media_dead.swap is None and "the DID sweep failed" in media_dead.sentence
    # fewer proven than needed, or the default of 1.0: no swap
    assert decide(PairSnapshot(), world(TrunkState.DOWN, readiness=replace(partial, sweep_ready=0.7)), 10.0,
                  rules).swap is None
    assert decide(PairSnapshot(), world(TrunkState.DOWN, readiness=partial), 10.0, RULES).swap is None


def test_a_failover_that_skips_one_gate_still_checks_the_others() -> None:
    """`trunkguard failover --skip-gate sweep`: not a blanket force."""
    no_sweep = replace(READY, sweep_ok=False)
    skip = OperatorAction("failover", "erin", "SNA still propagating", 5.0, skip=("sweep",))
    d = operator(PairSnapshot(), skip, 5.0, RULES, world(readiness=no_sweep))
    assert d.swap is not None and d.swap.trigger == "operator"
    assert d.sentence == "activating the secondary carrier: forced by erin (SNA still propagating), gate sweep skipped"
    assert "gate sweep skipped, the other gates passed" in d.swap.reason
    certs_too = replace(no_sweep, certs_ok=False)
    refused = operator(PairSnapshot(), skip, 5.0, RULES, world(readiness=certs_too))
    assert refused.swap is None and refused.sentence == ("failover by erin (SNA still propagating) refused: skipping "
                                                         "sweep, the secondary is still not ready: TLS certificates "
                                                         "failed")
    forced = operator(PairSnapshot(), replace(skip, skip=()), 5.0, RULES, world(readiness=certs_too))
    assert forced.swap is not None  # without --skip-gate a forced failover checks nothing, as before


def test_the_stored_sweep_says_how_many_dids_it_proved() -> None:
    from trunkguard.readiness import readiness_from

    failed = [{"did": f"+1555000{n:04d}", "code": 404, "reason": "404"} for n in range(12)]
    row = {"ok": False, "at": 100.0, "result": {"total": 100, "ok": 88, "failed": failed}}
    r = readiness_from({"sweep": row}, 101.0, {})
    assert r.sweep_ok is False and r.sweep_ready == 0.88
    assert r.sweep_unready[:2] == ("+15550000000", "+15550000001") and r.sweep_unready[-1] == "and 2 more"
