"""Trunk health transitions, each with the sentence an operator reads."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trunkguard.core.health import (
    HealthRules,
    TrunkHealth,
    TrunkState,
    media_result,
    probe_overdue,
    probe_result,
)

RULES = HealthRules(down_after=3, up_after=2, confirm_burst=5)


def _fail_n(h: TrunkHealth, first_seq: int, n: int, t: float = 0.0) -> TrunkHealth:
    for seq in range(first_seq, first_seq + n):
        h, _ = probe_result(h, seq, False, t, RULES)
    return h


def test_a_failed_probe_makes_an_up_trunk_suspect() -> None:
    h, sentence = probe_result(TrunkHealth("p1", "primary"), 1, False, 10.0, RULES, detail="no answer")
    assert h.state is TrunkState.SUSPECT and h.since == 10.0
    assert sentence == "trunk p1 is suspect: probe 1 failed (no answer)"
    assert h.usable  # not confirmed: still carries calls


def test_an_overdue_probe_makes_it_suspect_before_its_deadline() -> None:
    h, sentence = probe_overdue(TrunkHealth("p1", "primary"), 4, 3.5)
    assert h.state is TrunkState.SUSPECT
    assert sentence == "trunk p1 is suspect: probe 4 unanswered after 500 ms"


def test_down_needs_one_plus_bursts_of_failures() -> None:
    assert RULES.failures_to_down == 11
    h = _fail_n(TrunkHealth("p1", "primary"), 1, 10)
    assert h.state is TrunkState.SUSPECT
    h, sentence = probe_result(h, 11, False, 5.0, RULES, detail="no answer")
    assert h.state is TrunkState.DOWN and not h.usable and h.sip_down
    assert sentence == "trunk p1 is down: 11 consecutive probes failed, the last no answer"


def test_one_answer_clears_a_suspicion() -> None:
    h = _fail_n(TrunkHealth("p1", "primary"), 1, 9)
    h, sentence = probe_result(h, 10, True, 2.0, RULES, code=200)
    assert h.state is TrunkState.UP and h.failed == ()
    assert sentence == "trunk p1 is up again: probe 10 answered 200"


def test_a_late_timeout_of_an_older_probe_does_not_undo_a_newer_success() -> None:
    h, _ = probe_result(TrunkHealth("p1", "primary"), 5, True, 1.0, RULES, code=200)
    h, sentence = probe_result(h, 4, False, 2.0, RULES)
    assert h.state is TrunkState.UP and sentence is None and h.failed == ()


def test_a_success_only_clears_failures_sent_before_it() -> None:
    h = _fail_n(TrunkHealth("p1", "primary"), 1, 3)
    h = _fail_n(h, 7, 2)  # probes 7 and 8 failed; 4..6 still in flight
    h, _ = probe_result(h, 5, True, 3.0, RULES, code=200)
    assert h.failed == (7, 8)
    assert h.state is TrunkState.SUSPECT


def test_recovery_needs_up_after_successes_and_a_failure_sends_it_back() -> None:
    h = _fail_n(TrunkHealth("p1", "primary"), 1, 11)
    h, sentence = probe_result(h, 12, True, 30.0, RULES, code=200)
    assert h.state is TrunkState.RECOVERING and not h.usable
    assert sentence == "trunk p1 is recovering: 1 of 2 successes needed"
    h, sentence = probe_result(h, 13, False, 45.0, RULES)
    assert h.state is TrunkState.DOWN
    assert sentence == "trunk p1 is down again: a probe failed while recovering"
    h, _ = probe_result(h, 14, True, 60.0, RULES, code=200)
    h, sentence = probe_result(h, 15, True, 75.0, RULES, code=200)
    assert h.state is TrunkState.UP
    assert sentence == "trunk p1 is up: 2 consecutive successes after an outage"


def test_up_after_one_returns_at_the_first_success() -> None:
    rules = HealthRules(down_after=1, up_after=1, confirm_burst=1)
    h, _ = probe_result(TrunkHealth("s1", "secondary"), 1, False, 0.0, rules)
    assert h.state is TrunkState.DOWN
    h, _ = probe_result(h, 2, True, 1.0, rules)
    assert h.state is TrunkState.UP


def test_dual_validation_sip_up_but_media_dead_is_unusable_after_two_failed_test_calls() -> None:
    h, sentence, retest = media_result(TrunkHealth("p1", "primary"), False, 60.0, "no RTP back")
    assert h.usable and sentence is None and retest  # one failed test call: re-test, do not judge
    h, sentence, retest = media_result(h, False, 66.0, "no RTP back")
    assert h.state is TrunkState.UP and not h.usable and not h.sip_down and not retest
    assert sentence == "trunk p1 cannot carry calls: SIP answers but 2 test calls in a row failed (no RTP back)"
    h, sentence, retest = media_result(h, True, 120.0)
    assert not h.usable and sentence is None and retest  # one good call: confirm the recovery
    h, sentence, retest = media_result(h, True, 125.0)
    assert h.usable and sentence == "trunk p1 carries media again (2 good test calls in a row)" and not retest


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=40), st.integers(1, 4), st.integers(1, 4))
def test_a_trunk_never_changes_media_state_on_fewer_calls_than_its_threshold(results: list[bool], down: int,
                                                                              up: int) -> None:
    """Whatever the sequence of test calls, the media state flips only after `down` failures (or
    `up` successes) in a row."""
    rules = HealthRules(media_down_after=down, media_up_after=up)
    h = TrunkHealth("p1", "primary")
    for n, ok in enumerate(results):
        before = h.media_ok
        h, _, _ = media_result(h, ok, float(n), "", rules)
        run = 0
        for r in reversed(results[:n + 1]):
            if r != ok:
                break
            run += 1
        if before is not False and h.media_ok is False:
            assert not ok and run >= down
        if before is False and h.media_ok is not False:
            assert ok and run >= up


def test_a_media_failure_on_a_trunk_whose_sip_is_down_does_not_say_sip_answers() -> None:
    h = _fail_n(TrunkHealth("p1", "primary"), 1, 15)
    assert h.state is TrunkState.DOWN
    h, _, _ = media_result(h, False, 60.0, "no answer")
    h, sentence, _ = media_result(h, False, 65.0, "no answer")
    assert sentence == "trunk p1 cannot carry calls: 2 test calls in a row failed (no answer)"


def test_state_shows_in_repr() -> None:
    h = _fail_n(TrunkHealth("p1", "primary"), 1, 2)
    assert repr(h) == "<TrunkHealth p1 suspect fails=2>"
