"""Trunk health: UP, SUSPECT, DOWN, RECOVERING, driven by probe outcomes in send order.

The confirmation rule (docs/detection.md has the trade-off table):
- A failed probe, or one still unanswered at T1 (500 ms, when Timer E first retransmits), makes an
  UP trunk SUSPECT. The scheduler then sends quick confirmation probes `confirm_interval` apart.
- DOWN needs `down_after` consecutive failed checks, where the first is the failed probe and each
  later one is a burst of `confirm_burst` probes that fails only if none of them is answered: in all
  1 + (down_after - 1) * confirm_burst consecutive failed probes. A hard outage is confirmed about
  3.5 s after the first unanswered probe; a carrier losing 30 % of probes needs 11 losses in a row
  (0.3^10 = 6e-6 per suspicion) before it is marked down.
- "Consecutive" is in send order: a success resets only the failures of probes sent before it, so
  a late timeout cannot undo a newer success.
- DOWN -> RECOVERING on a success, RECOVERING -> UP after `up_after` consecutive successes; a
  failure while RECOVERING goes back to DOWN.
- Dual validation: a trunk whose SIP answers but whose media check failed is not usable.
- Targets (RFC 3263): a trunk whose name resolves to several addresses has each probed, and each
  has its own health: DOWN after `down_after` probes in a row it did not answer, UP again on its
  first answer. A probe of the trunk succeeds when any target answered (`targets_all`: every one),
  so one dead SBC of two is named, and the trunk goes down only when the rule says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from trunkguard.core.values import evolve


class TrunkState(StrEnum):
    UP = "up"
    SUSPECT = "suspect"
    DOWN = "down"
    RECOVERING = "recovering"


@dataclass(frozen=True)
class HealthRules:
    """The thresholds of one trunk, from its carrier's (or its own) health settings."""

    down_after: int = 3
    up_after: int = 2
    confirm_burst: int = 5
    media_down_after: int = 2  # consecutive failed test calls before the trunk cannot carry calls
    media_up_after: int = 2    # consecutive good ones before it can again
    targets_all: bool = False  # a probe succeeds only when every target of the name answered

    @property
    def failures_to_down(self) -> int:
        return 1 + (self.down_after - 1) * self.confirm_burst


@dataclass(frozen=True)
class TargetHealth:
    """One address of a trunk's name: UP, SUSPECT (failing, not yet down) or DOWN."""

    target: str
    state: TrunkState = TrunkState.UP
    since: float = 0.0
    fails: int = 0  # probes in a row it did not answer
    seq: int = -1  # the newest probe folded in
    detail: str = ""


@dataclass(frozen=True)
class TrunkHealth:
    """The frozen health snapshot of one trunk. `failed` holds the send sequence numbers of the
    failed probes newer than the newest success (its length is the consecutive-failure count)."""

    name: str
    carrier: str
    state: TrunkState = TrunkState.UP
    since: float = 0.0
    failed: tuple[int, ...] = ()
    last_success_seq: int = -1
    successes: int = 0  # consecutive successes while RECOVERING
    media_ok: bool | None = None
    media_at: float | None = None
    media_fails: int = 0  # consecutive failed test calls
    media_goods: int = 0  # consecutive good test calls
    last_code: int | None = None
    last_detail: str = ""
    targets: tuple[TargetHealth, ...] = ()  # a name's addresses, in resolution order (none for an IP)

    @property
    def usable(self) -> bool:
        """Can carry calls: SIP alive (UP, or SUSPECT and not yet confirmed down) and media not failed."""
        return self.state in (TrunkState.UP, TrunkState.SUSPECT) and self.media_ok is not False

    @property
    def sip_down(self) -> bool:
        return self.state is TrunkState.DOWN

    def __repr__(self) -> str:
        media = "" if self.media_ok is None else f" media={'ok' if self.media_ok else 'FAILED'}"
        return f"<TrunkHealth {self.name} {self.state.value} fails={len(self.failed)}{media}>"


def probe_result(h: TrunkHealth, seq: int, ok: bool, now: float, rules: HealthRules, *,
                 code: int | None = None, detail: str = "") -> tuple[TrunkHealth, str | None]:
    """Fold one probe outcome into the trunk's health. Returns the new snapshot and, when the
    state changed, one sentence saying why."""
    if ok:
        if seq <= h.last_success_seq:
            return evolve(h, last_code=code), None
        failed = tuple(s for s in h.failed if s > seq)
        h = evolve(h, failed=failed, last_success_seq=seq, last_code=code, last_detail=detail)
        if h.state is TrunkState.SUSPECT and not failed:
            return _to(h, TrunkState.UP, now, f"trunk {h.name} is up again: probe {seq} answered {code or ''}".rstrip())
        if h.state is TrunkState.DOWN:
            h = evolve(h, successes=1)
            if rules.up_after <= 1:
                return _to(h, TrunkState.UP, now, f"trunk {h.name} is up: it answered after being down")
            return _to(h, TrunkState.RECOVERING, now,
                       f"trunk {h.name} is recovering: 1 of {rules.up_after} successes needed")
        if h.state is TrunkState.RECOVERING:
            h = evolve(h, successes=h.successes + 1)
            if h.successes >= rules.up_after:
                return _to(h, TrunkState.UP, now,
                           f"trunk {h.name} is up: {h.successes} consecutive successes after an outage")
        return h, None
    if seq <= h.last_success_seq:
        return h, None  # older than a success we already have: it changes nothing
    h = evolve(h, failed=(*h.failed, seq)[-rules.failures_to_down:], last_code=code, last_detail=detail,
                successes=0)
    fails = len(h.failed)
    if h.state is TrunkState.UP:
        if fails >= rules.failures_to_down:
            return _to(h, TrunkState.DOWN, now, f"trunk {h.name} is down: {fails} consecutive probes failed")
        return _to(h, TrunkState.SUSPECT, now,
                   f"trunk {h.name} is suspect: probe {seq} failed ({detail or 'no answer'})")
    if h.state is TrunkState.SUSPECT and fails >= rules.failures_to_down:
        return _to(h, TrunkState.DOWN, now,
                   f"trunk {h.name} is down: {fails} consecutive probes failed, the last {detail or 'unanswered'}")
    if h.state is TrunkState.RECOVERING:
        return _to(h, TrunkState.DOWN, now, f"trunk {h.name} is down again: a probe failed while recovering")
    return h, None


class TargetChange(NamedTuple):
    """One of a trunk's targets went down or came back, and the sentence saying so."""

    target: str
    down: bool
    sentence: str


def targets_result(h: TrunkHealth, seq: int, seen: tuple[tuple[str, bool, str], ...], now: float,
                   rules: HealthRules) -> tuple[TrunkHealth, bool, list[TargetChange]]:
    """Fold what each target answered to probe `seq`. Returns the trunk with its targets' health, the
    probe's outcome for the trunk (any or all targets answered, by the rules), and a sentence for
    each target that went down or came back. Targets no longer resolved are dropped."""
    before = {t.target: t for t in h.targets}
    targets: list[TargetHealth] = []
    said: list[TargetChange] = []
    for target, ok, detail in seen:
        t = before.get(target) or TargetHealth(target, since=now)
        if seq <= t.seq:
            targets.append(t)
            continue
        if ok:
            if t.state is TrunkState.DOWN:
                said.append(TargetChange(target, False, f"trunk {h.name}: target {target} answers again"))
            t = TargetHealth(target, TrunkState.UP, now if t.state is not TrunkState.UP else t.since, 0, seq, detail)
        else:
            fails = t.fails + 1
            state = TrunkState.DOWN if fails >= rules.down_after else TrunkState.SUSPECT
            if state is TrunkState.DOWN and t.state is not TrunkState.DOWN:
                alive = sum(o for _, o, _ in seen)
                said.append(TargetChange(target, True, f"trunk {h.name}: target {target} is down: {fails} probes "
                                         f"in a row failed ({detail or 'no answer'}); {alive} of {len(seen)} "
                                         "targets answer"))
            t = TargetHealth(target, state, t.since if state is t.state else now, fails, seq, detail)
        targets.append(t)
    answered = [ok for _, ok, _ in seen]
    ok = bool(answered) and (all(answered) if rules.targets_all else any(answered))
    return evolve(h, targets=tuple(targets)), ok, said


def probe_overdue(h: TrunkHealth, seq: int, now: float) -> tuple[TrunkHealth, str | None]:
    """A probe is still unanswered at T1: an UP trunk becomes SUSPECT so confirmation starts now."""
    if h.state is TrunkState.UP and seq > h.last_success_seq:
        return _to(h, TrunkState.SUSPECT, now, f"trunk {h.name} is suspect: probe {seq} unanswered after 500 ms")
    return h, None


def remote_suspicion(h: TrunkHealth, now: float, vantage: str) -> tuple[TrunkHealth, str | None]:
    """Another vantage newly sees this trunk failing: an UP trunk becomes SUSPECT here too, so this
    vantage confirms at once instead of at its next regular probe. Its own probes then decide: the
    first answer makes it UP again (no failure of its own is counted)."""
    if h.state is TrunkState.UP:
        return _to(h, TrunkState.SUSPECT, now, f"trunk {h.name} is suspect: it fails from vantage {vantage}")
    return h, None


def media_result(h: TrunkHealth, ok: bool, now: float, detail: str = "",
                 rules: HealthRules = HealthRules()) -> tuple[TrunkHealth, str | None, bool]:
    """Fold a media check (INVITE test call with RTP) into the trunk's health. One failed test call
    is never enough: the trunk stops carrying calls after `media_down_after` in a row, and carries
    them again after `media_up_after` good ones. The third value asks for a re-test soon (a
    failure not yet confirmed, or a recovery not yet confirmed)."""
    if ok:
        goods = h.media_goods + 1
        h = evolve(h, media_fails=0, media_goods=goods, media_at=now)
        if h.media_ok is not False:
            return (h if h.media_ok else evolve(h, media_ok=True)), None, False
        if goods >= rules.media_up_after:
            return evolve(h, media_ok=True), f"trunk {h.name} carries media again ({goods} good test calls " \
                                             "in a row)", False
        return h, None, True
    fails = h.media_fails + 1
    h = evolve(h, media_fails=fails, media_goods=0, media_at=now, last_detail=detail or h.last_detail)
    if h.media_ok is False:
        return h, None, False
    if fails < rules.media_down_after:
        return h, None, True
    sip = "SIP answers but " if h.state is TrunkState.UP else ""
    calls = "the test call failed" if fails == 1 else f"{fails} test calls in a row failed"
    return evolve(h, media_ok=False), f"trunk {h.name} cannot carry calls: {sip}{calls} ({detail or 'no RTP'})", False


def routine_change(before: TrunkState, after: TrunkState) -> bool:
    """A suspicion raised or cleared, the everyday noise of lossy links: logged, not put in the timeline."""
    return TrunkState.SUSPECT in (before, after) and TrunkState.DOWN not in (before, after)


def _to(h: TrunkHealth, state: TrunkState, now: float, sentence: str) -> tuple[TrunkHealth, str]:
    return evolve(h, state=state, since=now), sentence
