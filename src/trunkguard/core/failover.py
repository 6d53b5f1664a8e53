"""The carrier-pair policy: which carrier routing points at, and whether a swap may happen now.

Pure functions of (snapshot, observation, now, rules) returning a Decision: the new frozen
snapshot, the intents to carry out (a Swap at most, and notifications), and one sentence an
operator can read. The rules, in the order they are checked:

- A swap in flight blocks every other swap (never two at once).
- PAUSED takes no automatic action.
- Activation needs the primary carrier down (no primary trunk usable) and the secondary ready
  (each enabled gate: a usable secondary trunk, and the platform's edge not reporting it out of
  service; the latest DID sweep passed, TLS certificates valid, profile parity). A gate never
  checked counts as not ready. The edge seeing the primary still up is noted in the reason, not
  a veto: calls arrive from the carrier, and our probes see what a caller's carrier path sees.
- The breaker swaps only while the platform reports fewer than `max_active_calls` live calls;
  otherwise the activation is queued (ACTIVATING), re-checked every poll, notified, and escalated
  to a person after `queue_timeout`; it still runs by itself once calls drop, unless a person
  cancels or pauses. Unknown call counts (platform unreachable) queue too. When the primary is
  hard down (no primary trunk answers SIP at all) the calls on it are already lost and cannot be
  split, so by default (`hard_down_bypass`) activation proceeds despite the breaker.
- No automatic demotion: back to the primary only after the cooling period and then either an
  operator's approval (mode `approval`) or the primary usable for `sustained_recovery` (mode
  `sustained`), and only while the primary is usable.
- A person may force a failover (readiness and breaker are bypassed, and the record says so), and
  may acknowledge the incident (the page stops escalating; nothing else changes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from trunkguard.core.health import TrunkHealth
from trunkguard.core.vantage import QuorumRules, VantageView, Verdict, judge
from trunkguard.core.wording import format_age, format_duration


class Role(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


class PairState(StrEnum):
    PRIMARY_ACTIVE = "primary_active"
    ACTIVATING = "activating"
    SECONDARY_ACTIVE = "secondary_active"
    FAILBACK_PENDING = "failback_pending"
    RESTORING = "restoring"
    PAUSED = "paused"


Trigger = Literal["automatic", "operator"]
Severity = Literal["info", "warning", "critical"]
ActionKind = Literal["failover", "failback", "pause", "resume", "cancel", "ack", "maintenance", "maintenance_end"]


@dataclass(frozen=True)
class Swap:
    """Intent: point inbound routing at `to`. `key` is the idempotency key of every attempt."""

    to: Role
    trigger: Trigger
    reason: str
    key: str
    requested_at: float


@dataclass(frozen=True)
class Notify:
    kind: str
    severity: Severity
    message: str


Intent = Swap | Notify


@dataclass(frozen=True)
class OperatorAction:
    kind: ActionKind
    who: str
    why: str
    at: float
    trunk: str | None = None   # maintenance: which trunk
    until: float | None = None  # maintenance: when it ends by itself
    skip: tuple[str, ...] = ()  # failover: the readiness gates a person skips (the others are checked)


@dataclass(frozen=True)
class Readiness:
    """Results of the secondary's checks; None means never checked (or too old to count). `notes`
    says, per gate, why it does not count when the plain words would mislead ("is stale since ...")."""

    sweep_ok: bool | None = None
    certs_ok: bool | None = None
    parity_ok: bool | None = None
    notes: tuple[tuple[str, str], ...] = ()
    cert_expiry: tuple[tuple[str, float], ...] = ()  # (trunk, not-after as a Unix time) from the last cert check
    sweep_ready: float | None = None  # the share of DIDs the last sweep proved (0..1)
    sweep_unready: tuple[str, ...] = ()  # the DIDs it did not (the first few)


@dataclass(frozen=True)
class Observation:
    """What the runtime saw. `edge` is the platform's own view of each carrier (role -> does its
    edge see a trunk in service answering OPTIONS; None or absent: no view), a second vantage point."""

    trunks: Sequence[TrunkHealth]
    active_calls: int | None = 0
    readiness: Readiness = Readiness()
    edge: Mapping[str, bool | None] = field(default_factory=dict)
    edge_as_of: float | None = None  # when the platform last confirmed its edge view
    vantages: Mapping[str, VantageView] = field(default_factory=dict)  # by name, this process's own included

    def carrier(self, role: Role) -> tuple[TrunkHealth, ...]:
        return tuple(t for t in self.trunks if t.carrier == role.value)


@dataclass(frozen=True)
class PolicyRules:
    cooling_period: float = 90.0
    failback_mode: Literal["approval", "sustained"] = "approval"
    sustained_recovery: float = 300.0
    max_active_calls: int = 5
    queue_timeout: float = 120.0
    hard_down_bypass: bool = True
    poll_interval: float = 10.0
    gates: frozenset[str] = frozenset({"trunks", "sweep", "certs", "parity"})
    key_prefix: str = "swap"  # the daemon's is random per process: keys never repeat, whatever the store
    observe: bool = False  # decide and say what would be done; never swap
    down_below: int = 1          # the primary counts as down with fewer usable trunks than this (1: none left)
    down_fraction: float = 0.0   # ... or with a smaller share of its trunks usable (0: off)
    quorum: QuorumRules = field(default_factory=QuorumRules)  # several vantages: down only when enough agree
    unconfigured: tuple[tuple[str, str], ...] = ()  # (gate, why) for gates on but with nothing to check
    sweep_min_ready: float = 1.0  # below 1: a hard-down primary may swap with this share of DIDs proven

    def primary_down(self, usable: int, total: int) -> str | None:
        """Which rule says the primary is down with `usable` of `total` trunks usable (None: it is up)."""
        if usable == 0:
            return "no trunk usable"
        if usable < self.down_below:
            return f"fewer than {self.down_below} trunks usable"
        if self.down_fraction and total and usable / total < self.down_fraction:
            return f"less than {self.down_fraction:.0%} of its trunks usable"
        return None


@dataclass(frozen=True)
class PairSnapshot:
    state: PairState = PairState.PRIMARY_ACTIVE
    active: Role = Role.PRIMARY
    since: float = 0.0
    in_flight: Swap | None = None
    queued_since: float | None = None
    escalated: bool = False
    activated_at: float | None = None
    primary_ok_since: float | None = None
    approval: OperatorAction | None = None
    paused: OperatorAction | None = None
    swaps: int = 0
    alerted: frozenset[str] = field(default_factory=frozenset)
    maintenance: tuple[OperatorAction, ...] = ()  # trunks out of decisions, each until its `until`
    acked: OperatorAction | None = None  # who acknowledged the incident's pages (until it is over)

    def __repr__(self) -> str:
        flight = f" swap->{self.in_flight.to.value} in flight" if self.in_flight else ""
        return f"<PairSnapshot {self.state.value} active={self.active.value}{flight}>"


@dataclass(frozen=True)
class Decision:
    """What the policy decided: the snapshot after it, what to carry out, its sentence, and `event`, the
    stable name its log line carries (docs/logs.md lists them)."""

    event: str
    snapshot: PairSnapshot
    intents: tuple[Intent, ...]
    sentence: str

    @property
    def swap(self) -> Swap | None:
        return next((i for i in self.intents if isinstance(i, Swap)), None)


# ---- the per-cycle decision ---------------------------------------------------------------------


def decide(snap: PairSnapshot, obs: Observation, now: float, rules: PolicyRules) -> Decision:
    if snap.maintenance:
        ended = [m for m in snap.maintenance if m.until is not None and now >= m.until]
        if ended:
            snap = replace(snap, maintenance=tuple(m for m in snap.maintenance if m not in ended))
            d = decide(snap, obs, now, rules)
            names = ", ".join(str(m.trunk) for m in ended)
            return Decision(d.event,
                            d.snapshot, (Notify("maintenance_ended", "info", f"maintenance of {names} ended by "
                                                "itself: back in decisions"), *d.intents),
                            f"maintenance of {names} ended by itself; {d.sentence}")
        away = {m.trunk for m in snap.maintenance}
        primary_away = [t for t in obs.carrier(Role.PRIMARY) if t.name in away]
        if primary_away and len(primary_away) == len(obs.carrier(Role.PRIMARY)) and snap.active is Role.PRIMARY \
                and snap.in_flight is None:
            return Decision("no_action",
                            snap, (), "no action: every primary trunk is in maintenance, so there is nothing to "
                                      "judge the primary by; routing stays on the primary carrier")
        # A trunk in maintenance counts neither for nor against the carrier. One that is down is left
        # out, and `fewer_usable_than` drops by one for it (the share is taken over the trunks left);
        # one that answers still carries calls and counts as it is. So putting a healthy trunk into
        # maintenance, or ending it, changes no verdict: (u + 1) < n  <=>  u < n - 1.
        left_out = {t.name for t in obs.trunks if t.name in away and not t.usable}
        down_away = sum(t.name in left_out for t in primary_away)
        obs = replace(obs, trunks=tuple(t for t in obs.trunks if t.name not in left_out))
        if down_away:
            rules = replace(rules, down_below=max(1, rules.down_below - down_away))
        d = _decide_now(snap, obs, now, rules)
        return Decision(d.event, d.snapshot, d.intents,
                        f"{d.sentence} (in maintenance, not counted against the carrier: "
                        f"{', '.join(sorted(str(a) for a in away))})")
    return _decide_now(snap, obs, now, rules)


def _decide_now(snap: PairSnapshot, obs: Observation, now: float, rules: PolicyRules) -> Decision:
    primary = obs.carrier(Role.PRIMARY)
    primary_usable = rules.primary_down(sum(t.usable for t in primary), len(primary)) is None
    verdict = None
    if rules.quorum.active:  # several vantages: the quorum judges the primary, not this process alone
        verdict = judge(Role.PRIMARY.value, obs.vantages, obs.edge.get(Role.PRIMARY.value), obs.edge_as_of, now,
                        rules.quorum)
        primary_usable = not verdict.down
    snap = replace(snap, primary_ok_since=(snap.primary_ok_since if snap.primary_ok_since is not None else now)
                   if primary_usable else None)
    if snap.in_flight is not None:
        return Decision("no_action",
                        snap, (), f"waiting: the swap to the {snap.in_flight.to.value} carrier is in flight "
                                  f"(key {snap.in_flight.key})")
    if snap.state is PairState.PAUSED:
        return _while_paused(snap, obs, now, rules, primary_usable, verdict)
    if snap.active is Role.PRIMARY:
        return _while_primary(snap, obs, now, rules, primary, primary_usable, verdict)
    return _while_secondary(snap, now, rules, primary, primary_usable, verdict)


PAUSED_PAGES = ("paused_primary_down", "paused_would_swap")


def _while_paused(snap: PairSnapshot, obs: Observation, now: float, rules: PolicyRules,
                  primary_usable: bool, verdict: Verdict | None = None) -> Decision:
    """Paused: nothing is done, but the pager still hears of a dead primary, and of a swap that
    would run now if automatic actions were on (what the unpaused machine would decide)."""
    who = snap.paused
    by = f" by {who.who} ({who.why})" if who else ""
    idle = f"no action: automatic actions are paused{by}; routing stays on the {snap.active.value} carrier"
    if snap.active is not Role.PRIMARY:
        return Decision("no_action", snap, (), idle)
    if primary_usable:
        if snap.alerted & set(PAUSED_PAGES):
            return Decision("no_action", replace(snap, alerted=snap.alerted - set(PAUSED_PAGES)), (), idle)
        return Decision("no_action", snap, (), idle)
    unpaused = replace(snap, state=PairState.PRIMARY_ACTIVE, paused=None)
    would = _while_primary(unpaused, obs, now, rules, obs.carrier(Role.PRIMARY), primary_usable, verdict)
    if would.swap is not None:
        page = Notify("paused_would_swap", "critical",
                      f"paused{by}, so not acting, but unpaused this would run now: {would.sentence}. "
                      "Resume with `trunkguard resume`, or `trunkguard failover --reason ...`.")
    else:
        page = Notify("paused_primary_down", "critical",
                      f"the primary carrier is down and automatic actions are paused{by}: not acting "
                      f"({would.sentence})")
    snap, alerts = _alert_once(snap, page)
    if page.kind == "paused_would_swap" and "paused_primary_down" not in snap.alerted:
        snap = replace(snap, alerted=snap.alerted | {"paused_primary_down"})
    return Decision("paused_not_acting",
                    snap, alerts, f"paused{by}: not acting; unpaused it would be: {would.sentence}")


def _while_primary(snap: PairSnapshot, obs: Observation, now: float, rules: PolicyRules,
                   primary: tuple[TrunkHealth, ...], primary_usable: bool, verdict: Verdict | None = None) -> Decision:
    health = _health(primary, verdict)
    if primary_usable:
        if snap.state is PairState.ACTIVATING:
            calm = _calm(snap, now, PairState.PRIMARY_ACTIVE)
            return Decision("activation_cancelled", calm, (Notify("activation_cancelled", "info",
                                          f"primary carrier recovered ({health}) while activation was queued; "
                                          "nothing moved"),),
                            f"cancelled the queued activation: the primary carrier recovered ({health})")
        some_see_it_down = verdict is not None and any(v.state == "down" for v in verdict.vantages)
        return Decision("no_action", _calm(snap, now, PairState.PRIMARY_ACTIVE) if snap.alerted else snap, (),
                        f"no action: not enough vantages see the primary down ({health})" if some_see_it_down
                        else f"no action: primary carrier healthy, {health}")
    hard_down = verdict.hard if verdict is not None else all(t.sip_down for t in primary)
    usable = sum(t.usable for t in primary)
    if verdict is not None:
        why_down = f"{verdict.words}; here {_count(primary)}"
    elif hard_down:
        why_down = "no primary trunk answers SIP"
    elif usable == 0:
        why_down = f"primary carrier unusable ({health})"
    else:  # some trunks still carry calls: the partial-outage rule fired
        why_down = f"primary carrier down by policy.primary_down_when: {rules.primary_down(usable, len(primary))} " \
                   f"({health})"
    partial = partial_sweep(obs, rules) if hard_down else None
    gaps = readiness_gaps(obs, replace(rules, gates=rules.gates - {"sweep"}) if partial else rules)
    if gaps:
        snap, alerts = _alert_once(snap, Notify(
            "secondary_not_ready", "critical",
            f"{why_down}, and the secondary is not ready: {'; '.join(gaps)}. "
            "Force it with `trunkguard failover --reason ...` if you must."))
        return Decision("secondary_not_ready",
                        snap, alerts, f"cannot activate the secondary: {why_down}, but {'; '.join(gaps)}")
    calls = obs.active_calls
    blocked = calls is None or calls >= rules.max_active_calls
    if blocked and not (hard_down and rules.hard_down_bypass):
        return _queue(snap, now, rules, calls, why_down)
    bypass = " (breaker bypassed: calls on a dead trunk cannot be split)" if blocked else ""
    edge = _edge_note(obs, now)
    count = calls if calls is not None else "unknown"
    ready = f"secondary ready but for {partial}" if partial else "secondary ready"
    reason = f"{why_down}; {ready}{unconfigured_note(rules)}; {count} active calls{bypass}{edge}"
    d = _start_swap(snap, Role.SECONDARY, "automatic", reason, now, f"activating the secondary carrier: {reason}",
                    rules)
    if partial and d.swap is not None:
        left = ", ".join(obs.readiness.sweep_unready) or "see `trunkguard sweep`"
        d = Decision(d.event,
                     d.snapshot, (*d.intents, Notify("partial_sweep", "critical", f"swapping with {partial}, since "
                                                     f"the primary is hard down: DIDs left unreachable: {left}")),
                     d.sentence)
    return d


def _queue(snap: PairSnapshot, now: float, rules: PolicyRules, calls: int | None, why_down: str) -> Decision:
    count = "the active call count is unknown" if calls is None else f"{calls} active calls"
    limit = f"the breaker allows fewer than {rules.max_active_calls}"
    if snap.state is not PairState.ACTIVATING:
        snap = replace(snap, state=PairState.ACTIVATING, since=now, queued_since=now, escalated=False)
        return Decision("activation_queued", snap, (Notify("activation_queued", "warning",
                                      f"{why_down}; activation queued: {count}, {limit}. It runs by itself when "
                                      "calls drop; `trunkguard pause` cancels it."),),
                        f"activation queued: {why_down}, {count} and {limit}; re-checking every "
                        f"{format_duration(rules.poll_interval)}")
    waited = now - (snap.queued_since if snap.queued_since is not None else now)
    if waited >= rules.queue_timeout and not snap.escalated:
        snap = replace(snap, escalated=True)
        return Decision("activation_escalated", snap, (Notify("activation_escalated", "critical",
                                      f"activation queued for {format_duration(round(waited))}: {count}, {limit}. "
                                      "A person should decide: `trunkguard failover --reason ...` forces it."),),
                        f"activation still queued after {format_duration(round(waited))} ({count}); "
                        "escalated to a person")
    return Decision("activation_queued",
                    snap, (), f"activation queued for {format_duration(round(waited))}: {count}, {limit}")


def _while_secondary(snap: PairSnapshot, now: float, rules: PolicyRules, primary: tuple[TrunkHealth, ...],
                     primary_usable: bool, verdict: Verdict | None = None) -> Decision:
    activated = snap.activated_at if snap.activated_at is not None else snap.since
    cooling_left = activated + rules.cooling_period - now
    health = _health(primary, verdict)
    if not primary_usable:
        state_back = replace(snap, state=PairState.SECONDARY_ACTIVE, since=now) \
            if snap.state is PairState.FAILBACK_PENDING else snap
        waiting = f"; failback approved by {snap.approval.who}, waiting for it" if snap.approval else ""
        return Decision("no_action", state_back, (),
                        f"no action: on the secondary carrier; the primary is still down ({health}){waiting}")
    if cooling_left > 0:
        return Decision("no_action", snap, (), f"no action: on the secondary carrier, cooling period "
                                  f"{format_duration(round(cooling_left))} left before any return")
    healthy_for = now - (snap.primary_ok_since if snap.primary_ok_since is not None else now)
    if snap.approval is not None:
        a = snap.approval
        return _start_swap(replace(snap, approval=None), Role.PRIMARY, "operator",
                           f"failback approved by {a.who} ({a.why}); primary healthy ({health})", now,
                           f"returning to the primary carrier: approved by {a.who} ({a.why}), primary {health}", rules)
    if rules.failback_mode == "sustained" and healthy_for >= rules.sustained_recovery:
        reason = f"primary healthy for {format_duration(round(healthy_for))} (sustained recovery)"
        return _start_swap(snap, Role.PRIMARY, "automatic", reason, now, f"returning to the primary carrier: {reason}",
                           rules)
    pending = replace(snap, state=PairState.FAILBACK_PENDING, since=now) \
        if snap.state is not PairState.FAILBACK_PENDING else snap
    if rules.failback_mode == "approval":
        pending, alerts = _alert_once(pending, Notify(
            "failback_ready", "info", f"primary carrier healthy again ({health}); traffic stays on the secondary "
                                      "until a person approves: `trunkguard failback --reason ...`"))
        return Decision("failback_ready", pending, alerts,
                        f"no action: primary healthy ({health}) but failback needs a person's approval")
    return Decision("no_action",
                    pending, (), f"no action: primary healthy for {format_duration(round(healthy_for))} of the "
                                 f"{format_duration(rules.sustained_recovery)} sustained recovery needed")


# ---- swaps finishing, operator actions -----------------------------------------------------------


def swap_finished(snap: PairSnapshot, ok: bool, now: float, detail: str = "") -> Decision:
    """The platform adapter finished the swap in flight (written, read back) or gave up on it."""
    swap = snap.in_flight
    if swap is None:
        return Decision("swap_ignored", snap, (), "ignored a swap result: no swap was in flight")
    if not ok:
        back = PairState.ACTIVATING if swap.to is Role.SECONDARY else PairState.FAILBACK_PENDING
        snap = replace(snap, in_flight=None, state=PairState.PAUSED if snap.paused else back, since=now,
                       queued_since=now if swap.to is Role.SECONDARY else snap.queued_since)
        return Decision("swap_failed", snap, (Notify("swap_failed", "critical",
                                      f"the swap to the {swap.to.value} carrier failed: {detail}; routing unchanged, "
                                      "retrying at the next poll"),),
                        f"the swap to the {swap.to.value} carrier failed ({detail}); routing is unchanged")
    state = PairState.SECONDARY_ACTIVE if swap.to is Role.SECONDARY else PairState.PRIMARY_ACTIVE
    snap = replace(snap, in_flight=None, active=swap.to, state=PairState.PAUSED if snap.paused else state,
                   since=now, queued_since=None, escalated=False, alerted=frozenset(),
                   activated_at=now if swap.to is Role.SECONDARY else snap.activated_at,
                   approval=None)
    kind = "swap_committed" if swap.to is Role.SECONDARY else "failback_committed"
    return Decision("swap_committed", snap, (Notify(kind, "critical" if swap.to is Role.SECONDARY else "info",
                                  f"inbound routing now on the {swap.to.value} carrier "
                                  f"({swap.trigger}): {swap.reason}"),),
                    f"committed: inbound routing is on the {swap.to.value} carrier ({swap.trigger}, key {swap.key})")


def swap_withdrawn(before: PairSnapshot, current: PairSnapshot, detail: str) -> Decision:
    """The swap in `current` was never started (its intent could not be committed, the lease was near
    expiry): back to the snapshot `before` it, keeping the swap count so the next key is a new one."""
    swap = current.in_flight
    to = f"the swap to the {swap.to.value} carrier" if swap else "the swap"
    return Decision("swap_withdrawn",
                    replace(before, swaps=current.swaps), (), f"{to} was not started ({detail}); routing is unchanged")


def adopt(snap: PairSnapshot, active: Role, now: float, when: str, detail: str = "", *, hold: bool = False) -> Decision:
    """The platform routes to `active` and the stored snapshot said otherwise: the platform is the truth.
    Nothing is written; the snapshot takes its routing, a queued activation or approval is dropped, and a
    secondary adopted this way starts its cooling period now (no failback at the first good answer).
    With `hold` (a change made behind trunkguard's back while it knew the routing), automatic actions are
    paused, so trunkguard never writes to undo it by itself: a person re-asserts or resumes."""
    state = PairState.SECONDARY_ACTIVE if active is Role.SECONDARY else PairState.PRIMARY_ACTIVE
    held = OperatorAction("pause", "trunkguard", f"the routing changed outside trunkguard ({when})", now) \
        if hold and snap.paused is None else snap.paused
    adopted = replace(snap, active=active, state=PairState.PAUSED if held else state, since=now, paused=held,
                      queued_since=None, escalated=False, approval=None, alerted=frozenset(),
                      activated_at=now if active is Role.SECONDARY else snap.activated_at)
    said = f"trunkguard last wrote the {snap.active.value} carrier" if hold else f"the store said {snap.active.value}"
    shown = f": {detail}" if detail and hold else ""
    sentence = (f"the platform routes to the {active.value} carrier ({when}{shown}); {said}: adopting the "
                "platform's state")
    detail_page = f" ({detail})" if detail and not hold else ""
    after = ("; automatic actions are paused so nothing undoes it by itself: `trunkguard failover` or "
             "`trunkguard failback` re-asserts a carrier, `trunkguard resume` accepts it") if held and not snap.paused \
        else ""
    page = (f"{sentence}{detail_page}{after}. trunkguard wrote nothing to get here: someone or something else "
            "changed the routing.")
    return Decision("routing_adopted", adopted, (Notify("routing_drift", "critical", page),), sentence + after)


def operator(snap: PairSnapshot, action: OperatorAction, now: float, rules: PolicyRules | None = None,
             obs: Observation | None = None) -> Decision:
    """A person's action. Each is recorded with who and why by the caller's audit trail. `obs`: what the
    gates a failover does not skip are checked against."""
    by = f"{action.who} ({action.why})"
    if action.kind == "ack":
        return Decision("acknowledged",
                        replace(snap, acked=action), (Notify("acknowledged", "info", f"acknowledged by {by}"),),
                        f"acknowledged by {by}: the page stops escalating; routing stays on the "
                        f"{snap.active.value} carrier and nothing else changes")
    if action.kind == "pause":
        return Decision("paused", replace(snap, state=PairState.PAUSED if snap.in_flight is None else snap.state,
                                paused=action, since=now, queued_since=None),
                        (Notify("paused", "warning", f"automatic actions paused by {by}"),),
                        f"paused by {by}: no automatic action until resumed"
                        + (" (the swap in flight completes first)" if snap.in_flight else ""))
    if action.kind == "resume":
        if snap.paused is None:
            return Decision("operator_ignored", snap, (), f"resume by {by} ignored: not paused")
        state = PairState.PRIMARY_ACTIVE if snap.active is Role.PRIMARY else PairState.SECONDARY_ACTIVE
        return Decision("resumed", replace(snap, paused=None, state=snap.state if snap.in_flight else state, since=now),
                        (Notify("resumed", "info", f"automatic actions resumed by {by}"),),
                        f"resumed by {by}: automatic actions are back on")
    if action.kind == "maintenance":
        until = f" until {_clock(action.until)}" if action.until is not None else ""
        kept = tuple(m for m in snap.maintenance if m.trunk != action.trunk)
        return Decision("maintenance_started", replace(snap, maintenance=(*kept, action)),
                        (Notify("maintenance", "info", f"trunk {action.trunk} in maintenance{until} by {by}"),),
                        f"trunk {action.trunk} in maintenance{until} by {by}: left out of decisions")
    if action.kind == "maintenance_end":
        if not any(m.trunk == action.trunk for m in snap.maintenance):
            return Decision("operator_ignored",
                            snap, (), f"maintenance end by {by} ignored: trunk {action.trunk} is not in maintenance")
        return Decision("maintenance_ended",
                        replace(snap, maintenance=tuple(m for m in snap.maintenance if m.trunk != action.trunk)),
                        (Notify("maintenance_ended", "info", f"maintenance of trunk {action.trunk} ended by {by}"),),
                        f"maintenance of trunk {action.trunk} ended by {by}: back in decisions")
    if action.kind == "cancel":
        if snap.state is PairState.ACTIVATING and snap.in_flight is None:
            return Decision("activation_cancelled",
                            replace(snap, state=PairState.PRIMARY_ACTIVE, since=now, queued_since=None),
                            (Notify("activation_cancelled", "warning", f"queued activation cancelled by {by}"),),
                            f"cancelled the queued activation: {by}")
        if snap.approval is not None:
            return Decision("failback_approval_withdrawn",
                            replace(snap, approval=None), (), f"withdrew the failback approval: {by}")
        return Decision("operator_ignored", snap, (), f"cancel by {by}: nothing queued to cancel")
    if snap.in_flight is not None:
        return Decision("operator_refused",
                        snap, (), f"{action.kind} by {by} refused: a swap to the {snap.in_flight.to.value} "
                                  "carrier is in flight")
    if action.kind == "failover":
        if snap.active is Role.SECONDARY:
            return Decision("operator_ignored",
                            snap, (), f"failover by {by} ignored: routing is already on the secondary carrier")
        rules = rules or PolicyRules()
        if action.skip:  # the gates not named are checked: only what the person knowingly skips is skipped
            skipped = ", ".join(action.skip)
            gaps = readiness_gaps(obs, replace(rules, gates=rules.gates - set(action.skip))) if obs else []
            if gaps:
                return Decision("operator_refused",
                                snap, (), f"failover by {by} refused: skipping {skipped}, the secondary is still not "
                                          f"ready: {'; '.join(gaps)}")
            return _start_swap(snap, Role.SECONDARY, "operator", f"forced by {by}; gate {skipped} skipped, the other "
                               "gates passed; breaker not checked", now,
                               f"activating the secondary carrier: forced by {by}, gate {skipped} skipped", rules)
        return _start_swap(snap, Role.SECONDARY, "operator", f"forced by {by}; readiness and breaker not checked",
                           now, f"activating the secondary carrier: forced by {by}", rules)
    if snap.active is Role.PRIMARY:  # failback
        return Decision("operator_ignored",
                        snap, (), f"failback by {by} ignored: routing is already on the primary carrier")
    return Decision("failback_approved",
                    replace(snap, approval=action), (), f"failback approved by {by}; it runs once the cooling "
                                                        "period is over and the primary is healthy")


# ---- helpers -------------------------------------------------------------------------------------


def _clock(at: float | None) -> str:
    """A wall-clock time for sentences (UTC)."""
    return dt.datetime.fromtimestamp(at or 0.0, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _edge_note(obs: Observation, now: float) -> str:
    """What the platform's own edge says of the primary, and how old that view is."""
    seen = obs.edge.get(Role.PRIMARY.value)
    if seen is None:
        return ""
    age = f" (its view {format_age(max(0.0, now - obs.edge_as_of))} old)" if obs.edge_as_of is not None else ""
    return ("; the platform's edge still sees the primary answering OPTIONS" if seen else
            "; the platform's edge sees no primary trunk answering either") + age


def readiness_gaps(obs: Observation, rules: PolicyRules) -> list[str]:
    """Why the secondary is not ready (empty when it is), one phrase per failing gate."""
    gaps: list[str] = []
    secondary = obs.carrier(Role.SECONDARY)
    if "trunks" in rules.gates and not any(t.usable for t in secondary):
        gaps.append(f"no secondary trunk is usable ({_count(secondary)})")
    if "trunks" in rules.gates and obs.edge.get(Role.SECONDARY.value) is False:
        gaps.append("the platform's edge sees no secondary trunk in service answering OPTIONS")
    checks = (("sweep", obs.readiness.sweep_ok, "the DID sweep", "has"),
              ("certs", obs.readiness.certs_ok, "TLS certificates", "have"),
              ("parity", obs.readiness.parity_ok, "profile parity", "has"))
    notes = dict(obs.readiness.notes)
    for gate, value, name, verb in checks:
        if gate in rules.gates and value is not True:
            note = notes.get(gate)
            gaps.append(f"{name}: {note}" if note else f"{name} {f'{verb} not run' if value is None else 'failed'}")
    return gaps


def partial_sweep(obs: Observation, rules: PolicyRules) -> str | None:
    """With `sweep_min_ready` below 1, a failed sweep that still proved that share of the DIDs may let a
    hard-down primary swap (what calls could reach beats none): the words for it, or None."""
    r = obs.readiness
    if "sweep" not in rules.gates or r.sweep_ok is not False or rules.sweep_min_ready >= 1.0 \
            or r.sweep_ready is None or r.sweep_ready < rules.sweep_min_ready:
        return None
    return f"the DID sweep ({r.sweep_ready:.0%} of the DIDs proven, {rules.sweep_min_ready:.0%} needed)"


def unconfigured_note(rules: PolicyRules) -> str:
    """The gates that are on but have nothing to check, for the sentence that says the secondary is ready."""
    return "".join(f" ({gate}: not configured ({why}))" for gate, why in rules.unconfigured)


def _start_swap(snap: PairSnapshot, to: Role, trigger: Trigger, reason: str, now: float, sentence: str,
                rules: PolicyRules) -> Decision:
    if rules.observe:  # observe mode: say it, page once, change nothing
        snap, alerts = _alert_once(snap, Notify(f"would_swap_to_{to.value}", "warning",
                                                f"observe mode: would swap to the {to.value} carrier: {reason}; "
                                                "nothing written"))
        return Decision("would_swap", snap, alerts, f"observe mode: would swap to the {to.value} carrier ({sentence}); "
                                      "nothing written")
    number = snap.swaps + 1
    swap = Swap(to, trigger, reason, f"{rules.key_prefix}-{number}-to-{to.value}", now)
    state = PairState.ACTIVATING if to is Role.SECONDARY else PairState.RESTORING
    snap = replace(snap, in_flight=swap, swaps=number, state=PairState.PAUSED if snap.paused else state, since=now)
    return Decision("swap_started", snap, (swap,), sentence)


def _alert_once(snap: PairSnapshot, notify: Notify) -> tuple[PairSnapshot, tuple[Intent, ...]]:
    if notify.kind in snap.alerted:
        return snap, ()
    return replace(snap, alerted=snap.alerted | {notify.kind}), (notify,)


def _calm(snap: PairSnapshot, now: float, state: PairState) -> PairSnapshot:
    return replace(snap, state=state, since=now if state is not snap.state else snap.since, queued_since=None,
                   escalated=False, alerted=frozenset(), acked=None)


NAMED = 5  # unusable trunks named in a sentence; the rest are counted


def _health(trunks: Iterable[TrunkHealth], verdict: Verdict | None) -> str:
    """The carrier's trunks as this process sees them, and the vantages' verdict when there is one."""
    here = _count(trunks)
    return here if verdict is None else f"{verdict.words}; here {here}"


def _count(trunks: Iterable[TrunkHealth]) -> str:
    trunks = tuple(trunks)
    unusable = [t for t in trunks if not t.usable]
    details = ", ".join(f"{t.name} {t.state.value}" + (" media failed" if t.media_ok is False else "")
                        for t in unusable[:NAMED])
    if len(unusable) > NAMED:
        details += f" and {len(unusable) - NAMED} more"
    return f"{len(trunks) - len(unusable)}/{len(trunks)} trunks usable" + (f" ({details})" if details else "")
