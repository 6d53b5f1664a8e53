"""The carrier-chain policy: which carrier routing points at, and whether a swap may happen now.

Pure functions of (snapshot, observation, now, rules) returning a Decision: the new frozen
snapshot, the intents to carry out (a Swap at most, and notifications), and one sentence an
operator can read. The rules, in the order they are checked:

The carriers form a chain in priority order (`PolicyRules.chain`; a pair config is the chain
`primary, secondary`). Calls go to the highest carrier that is usable and ready. Below, "the
primary" is the chain's first carrier and "the secondary" whichever carrier a move goes to.

- A swap in flight blocks every other swap (never two at once).
- Moving down the chain: when the active carrier is down (the first by `primary_down`, any other
  at no usable trunk), routing moves to the next carrier below it that is ready, skipping, and
  naming in the sentence, any that is not ("activating carrier C: carrier A down (...), carrier B
  not ready (...)"). Cooling never holds a move down: calls are failing.
- Moving up: one step at a time, to the nearest carrier above that is usable (and ready, unless it
  is the first), after the cooling period since the last swap and then by approval or sustained
  recovery of that carrier, as for a pair. A person's approval may name a higher carrier (a jump).
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
DEFAULT_GROUP = "default"  # the routing group of a config without `groups:` (and of rows stored before groups)


@dataclass(frozen=True)
class Swap:
    """Intent: point inbound routing at carrier `to`. `key` is the idempotency key of every attempt."""

    to: str
    trigger: Trigger
    reason: str
    key: str
    requested_at: float
    up: bool = False  # a move up the chain (a failback); otherwise down (a failover)


@dataclass(frozen=True)
class Notify:
    kind: str
    severity: Severity
    message: str
    group: str = ""  # the routing group it is about ("": the whole deployment: the store, the lease, certificates)


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
    to: str | None = None  # failover/failback: the carrier a person names (default: the next one down / up)
    group: str = DEFAULT_GROUP  # the routing group it acts on


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


NOT_CHECKED = Readiness()


@dataclass(frozen=True)
class Observation:
    """What the runtime saw. `edge` is the platform's own view of each carrier (name -> does its
    edge see a trunk in service answering OPTIONS; None or absent: no view), a second vantage point.
    `readiness`: per carrier (name -> its checks), or one value for every carrier after the first."""

    trunks: Sequence[TrunkHealth]
    active_calls: int | None = 0
    readiness: Readiness | Mapping[str, Readiness] = Readiness()
    edge: Mapping[str, bool | None] = field(default_factory=dict)
    edge_as_of: float | None = None  # when the platform last confirmed its edge view
    vantages: Mapping[str, VantageView] = field(default_factory=dict)  # by name, this process's own included

    def carrier(self, name: str) -> tuple[TrunkHealth, ...]:
        return tuple(t for t in self.trunks if t.carrier == name)

    def ready_of(self, carrier: str) -> Readiness:
        r = self.readiness
        return r if isinstance(r, Readiness) else r.get(carrier, NOT_CHECKED)


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
    chain: tuple[str, ...] = ("primary", "secondary")  # the carriers in priority order, first preferred

    @property
    def first(self) -> str:
        return self.chain[0]

    def rank(self, carrier: str) -> int:
        """The carrier's place in the chain (0: the first); a carrier not in it ranks last."""
        return self.chain.index(carrier) if carrier in self.chain else len(self.chain)

    def moves_up(self, frm: str, to: str) -> bool:
        """Is a swap from `frm` to `to` a move up the chain? From a carrier not in the chain (the
        platform routes to a carrier the config no longer has), every move is down: a failover."""
        return frm in self.chain and self.rank(to) < self.rank(frm)

    def down_rule(self, carrier: str, usable: int, total: int) -> str | None:
        """Which rule says `carrier` is down (None: it is up): the first carrier by `primary_down`
        (the guide's asymmetry), every other one when no trunk is usable."""
        if carrier == self.first:
            return self.primary_down(usable, total)
        return "no trunk usable" if usable == 0 else None

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
    state: PairState = PairState.PRIMARY_ACTIVE  # primary_active: on the chain's first carrier; secondary_active: later
    active: str = "primary"
    since: float = 0.0
    in_flight: Swap | None = None
    queued_since: float | None = None
    escalated: bool = False
    activated_at: float | None = None  # the last committed swap to a carrier after the first (cooling counts from it)
    ok_since: tuple[tuple[str, float], ...] = ()  # each usable carrier: since when, unbroken (sustained recovery)
    approval: OperatorAction | None = None
    paused: OperatorAction | None = None
    swaps: int = 0
    alerted: frozenset[str] = field(default_factory=frozenset)
    maintenance: tuple[OperatorAction, ...] = ()  # trunks out of decisions, each until its `until`
    acked: OperatorAction | None = None  # who acknowledged the incident's pages (until it is over)

    def __repr__(self) -> str:
        flight = f" swap->{self.in_flight.to} in flight" if self.in_flight else ""
        return f"<PairSnapshot {self.state.value} active={self.active}{flight}>"

    def usable_since(self, carrier: str) -> float | None:
        return next((at for name, at in self.ok_since if name == carrier), None)


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
        primary_away = [t for t in obs.carrier(rules.first) if t.name in away]
        if primary_away and len(primary_away) == len(obs.carrier(rules.first)) and snap.active == rules.first \
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


@dataclass(frozen=True)
class _Carrier:
    """One carrier as this decision sees it: its trunks, whether it is usable by its rule (the quorum's
    verdict when vantages vote), and the words for it."""

    name: str
    trunks: tuple[TrunkHealth, ...]
    usable: bool
    verdict: Verdict | None

    @property
    def health(self) -> str:
        return _health(self.trunks, self.verdict)


def _carriers(obs: Observation, now: float, rules: PolicyRules) -> dict[str, _Carrier]:
    out: dict[str, _Carrier] = {}
    for name in rules.chain:
        trunks = obs.carrier(name)
        usable = rules.down_rule(name, sum(t.usable for t in trunks), len(trunks)) is None
        verdict = None
        if rules.quorum.active:  # several vantages: the quorum judges each carrier (the active one, whichever)
            verdict = judge(name, obs.vantages, obs.edge.get(name), obs.edge_as_of, now, rules.quorum)
            usable = not verdict.down
        out[name] = _Carrier(name, trunks, usable, verdict)
    return out


def _decide_now(snap: PairSnapshot, obs: Observation, now: float, rules: PolicyRules) -> Decision:
    carriers = _carriers(obs, now, rules)
    kept = dict(snap.ok_since)
    ok_since = tuple((c.name, kept.get(c.name, now)) for c in carriers.values() if c.usable)
    if ok_since != snap.ok_since:
        snap = replace(snap, ok_since=ok_since)
    if snap.in_flight is not None:
        return Decision("no_action", snap, (), f"waiting: the swap to {_carrier(snap.in_flight.to)} is in flight "
                                  f"(key {snap.in_flight.key})")
    if snap.state is PairState.PAUSED:
        return _while_paused(snap, obs, now, rules, carriers)
    active = carriers.get(snap.active)
    if active is None or not active.usable:
        down = _move_down(snap, obs, now, rules, carriers)
        if down is not None:
            return down
    if snap.active == rules.first:
        return _while_first(snap, now, carriers[rules.first])
    return _while_later(snap, obs, now, rules, carriers)


def _below(snap: PairSnapshot, rules: PolicyRules) -> tuple[str, ...]:
    """The carriers a move down may go to: those after the active one (all of them when the active
    carrier is not in the chain, as after a config change)."""
    return rules.chain[rules.rank(snap.active) + 1:] if snap.active in rules.chain else rules.chain


PAUSED_PAGES = ("paused_primary_down", "paused_would_swap")


def _while_paused(snap: PairSnapshot, obs: Observation, now: float, rules: PolicyRules,
                  carriers: Mapping[str, _Carrier]) -> Decision:
    """Paused: nothing is done, but the pager still hears of a dead active carrier, and of a swap that
    would run now if automatic actions were on (what the unpaused machine would decide)."""
    who = snap.paused
    by = f" by {who.who} ({who.why})" if who else ""
    idle = f"no action: automatic actions are paused{by}; routing stays on {_carrier(snap.active)}"
    active = carriers.get(snap.active)
    if active is not None and active.usable:
        if snap.alerted & set(PAUSED_PAGES):
            return Decision("no_action", replace(snap, alerted=snap.alerted - set(PAUSED_PAGES)), (), idle)
        return Decision("no_action", snap, (), idle)
    if not _below(snap, rules):
        return Decision("no_action", snap, (), idle)
    unpaused = replace(snap, state=PairState.PRIMARY_ACTIVE if snap.active == rules.first
                       else PairState.SECONDARY_ACTIVE, paused=None)
    would = _move_down(unpaused, obs, now, rules, carriers) or Decision("no_action", unpaused, (), "no action")
    if would.swap is not None:
        page = Notify("paused_would_swap", "critical",
                      f"paused{by}, so not acting, but unpaused this would run now: {would.sentence}. "
                      "Resume with `trunkguard resume`, or `trunkguard failover --reason ...`.")
    else:
        page = Notify("paused_primary_down", "critical",
                      f"{_carrier(snap.active)} is down and automatic actions are paused{by}: not acting "
                      f"({would.sentence})")
    snap, alerts = _alert_once(snap, page)
    if page.kind == "paused_would_swap" and "paused_primary_down" not in snap.alerted:
        snap = replace(snap, alerted=snap.alerted | {"paused_primary_down"})
    return Decision("paused_not_acting",
                    snap, alerts, f"paused{by}: not acting; unpaused it would be: {would.sentence}")


def _while_first(snap: PairSnapshot, now: float, first: _Carrier) -> Decision:
    """On the first carrier and it is usable (or nothing below could take the calls)."""
    health = first.health
    if not first.usable:  # _move_down said why nothing moved; only reached without a carrier below
        return Decision("no_action",
                        snap, (), f"no action: {_carrier(first.name)} is down ({health}) and no carrier follows it")
    if snap.state is PairState.ACTIVATING:
        calm = _calm(snap, now, PairState.PRIMARY_ACTIVE)
        return Decision("activation_cancelled", calm, (Notify("activation_cancelled", "info",
                                      f"{first.name} carrier recovered ({health}) while activation was queued; "
                                      "nothing moved"),),
                        f"cancelled the queued activation: the {first.name} carrier recovered ({health})")
    verdict = first.verdict
    some_see_it_down = verdict is not None and any(v.state == "down" for v in verdict.vantages)
    return Decision("no_action", _calm(snap, now, PairState.PRIMARY_ACTIVE) if snap.alerted else snap, (),
                    f"no action: not enough vantages see the {first.name} down ({health})" if some_see_it_down
                    else f"no action: {first.name} carrier healthy, {health}")


def _why_down(c: _Carrier, rules: PolicyRules) -> tuple[str, bool]:
    """Why the carrier counts as down, and whether it is hard down (no trunk answers SIP at all)."""
    trunks, verdict = c.trunks, c.verdict
    hard = verdict.hard if verdict is not None else all(t.sip_down for t in trunks)
    usable = sum(t.usable for t in trunks)
    if verdict is not None:
        return f"{verdict.words}; here {_count(trunks)}", hard
    if hard:
        return f"no {c.name} trunk answers SIP", hard
    if usable == 0:
        return f"{c.name} carrier unusable ({c.health})", hard
    return (f"{c.name} carrier down by policy.primary_down_when: {rules.down_rule(c.name, usable, len(trunks))} "
            f"({c.health})"), hard


def _move_down(snap: PairSnapshot, obs: Observation, now: float, rules: PolicyRules,
               carriers: Mapping[str, _Carrier]) -> Decision | None:
    """The active carrier is down: move to the next carrier below it that is ready, or say why none
    is (paged once). None when no carrier follows the active one."""
    below = _below(snap, rules)
    if not below:
        return None
    active = carriers.get(snap.active)
    if active is None:
        why_down, hard_down = f"{_carrier(snap.active)} is not in the chain", False
    else:
        why_down, hard_down = _why_down(active, rules)
    skipped: list[str] = []
    target, partial = None, None
    for name in below:
        partial = partial_sweep(obs, rules, name) if hard_down else None
        gaps = readiness_gaps(obs, replace(rules, gates=rules.gates - {"sweep"}) if partial else rules, name)
        if not gaps:
            target = name
            break
        skipped.append(f"{_carrier(name)} not ready ({'; '.join(gaps)})" if len(below) > 1 or len(rules.chain) > 2
                       else "; ".join(gaps))
    if target is None:
        if len(rules.chain) == 2:  # a pair: the words operators know
            what = f"the {below[0]} is not ready: {skipped[0]}"
            said = f"cannot activate the {below[0]}: {why_down}, but {skipped[0]}"
        else:
            what = f"no carrier below it is ready: {', '.join(skipped)}"
            said = f"cannot activate a carrier below {_carrier(snap.active)}: {why_down}; {', '.join(skipped)}"
        up = None
        if snap.active in rules.chain[1:]:  # calls may still go up the chain: the failback rules decide that
            up = _while_later(snap, obs, now, rules, carriers)
            if up.swap is not None:
                return up
        hint = ""
        if up is not None and _step_up(snap, obs, rules, carriers)[0] is not None:
            hint = "; a carrier above is usable: `trunkguard failback --reason ...` approves the return to it"
        base, alerts = _alert_once(up.snapshot if up is not None else snap, Notify(
            "secondary_not_ready", "critical",
            f"{why_down}, and {what}. Force it with `trunkguard failover --reason ...` if you must{hint}."))
        return Decision("secondary_not_ready", base, (*alerts, *(up.intents if up is not None else ())),
                        said + (f"; {up.sentence}" if up is not None else ""))
    calls = obs.active_calls
    blocked = calls is None or calls >= rules.max_active_calls
    if blocked and not (hard_down and rules.hard_down_bypass):
        return _queue(snap, now, rules, calls, why_down)
    bypass = " (breaker bypassed: calls on a dead trunk cannot be split)" if blocked else ""
    edge = _edge_note(obs, now, snap.active)
    count = calls if calls is not None else "unknown"
    ready = f"{target} ready but for {partial}" if partial else f"{target} ready"
    passed = "".join(f", {s}" for s in skipped)
    reason = f"{why_down}{passed}; {ready}{unconfigured_note(rules)}; {count} active calls{bypass}{edge}"
    d = _start_swap(snap, target, "automatic", reason, now, f"activating {_carrier(target)}: {reason}", rules)
    if partial and d.swap is not None:
        left = ", ".join(obs.ready_of(target).sweep_unready) or "see `trunkguard sweep`"
        d = Decision(d.event,
                     d.snapshot, (*d.intents, Notify("partial_sweep", "critical", f"swapping with {partial}, since "
                                                     f"the {snap.active} is hard down: DIDs left unreachable: "
                                                     f"{left}")),
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


def _step_up(snap: PairSnapshot, obs: Observation, rules: PolicyRules, carriers: Mapping[str, _Carrier],
             ) -> tuple[_Carrier | None, list[str]]:
    """The nearest carrier above the active one that could take the calls back (usable, and ready
    unless it is the first), and why each nearer one could not."""
    passed: list[str] = []
    for name in reversed(rules.chain[:rules.rank(snap.active)]):
        c = carriers[name]
        if not c.usable:
            passed.append(f"{_carrier(name)} still down ({c.health})")
            continue
        gaps = readiness_gaps(obs, rules, name) if name != rules.first else []
        if gaps:
            passed.append(f"{_carrier(name)} not ready ({'; '.join(gaps)})")
            continue
        return c, passed
    return None, passed


def _while_later(snap: PairSnapshot, obs: Observation, now: float, rules: PolicyRules,
                 carriers: Mapping[str, _Carrier]) -> Decision:
    """On a carrier after the first: back up the chain one step at a time, each step after the
    cooling period and then by approval or sustained recovery (a person may approve a jump)."""
    active = carriers.get(snap.active)
    if active is not None and active.usable:
        if snap.state is PairState.ACTIVATING:  # a move down was queued (breaker) and the carrier recovered
            calm = _calm(snap, now, PairState.SECONDARY_ACTIVE)
            return Decision("activation_cancelled", calm, (Notify(
                "activation_cancelled", "info", f"{active.name} carrier recovered ({active.health}) while "
                                                "activation was queued; nothing moved"),),
                            f"cancelled the queued activation: the {active.name} carrier recovered ({active.health})")
        if "secondary_not_ready" in snap.alerted:  # the next outage of this carrier pages again
            snap = replace(snap, alerted=snap.alerted - {"secondary_not_ready"})
    if snap.approval is not None and snap.approval.to is not None \
            and not rules.moves_up(snap.active, snap.approval.to):  # stored before the chain changed
        snap = replace(snap, approval=None)
    activated = snap.activated_at if snap.activated_at is not None else snap.since
    cooling_left = activated + rules.cooling_period - now
    up, passed = _step_up(snap, obs, rules, carriers)
    approved = None
    if snap.approval is not None and snap.approval.to is not None and snap.approval.to != (up.name if up else None):
        wanted = carriers.get(snap.approval.to)  # a jump a person approved: that carrier, when it can
        gaps = [] if wanted is None or wanted.name == rules.first else readiness_gaps(obs, rules, wanted.name)
        approved = wanted if wanted is not None and wanted.usable and not gaps else None
    target = approved or up
    here = _carrier(snap.active)
    if target is None:
        state_back = replace(snap, state=PairState.SECONDARY_ACTIVE, since=now) \
            if snap.state is PairState.FAILBACK_PENDING else snap
        waiting = f"; failback approved by {snap.approval.who}, waiting for it" if snap.approval else ""
        if len(rules.chain) == 2:
            first = carriers[rules.first]
            why = f"the {first.name} is still down ({first.health})"
        else:
            why = "; ".join(passed)
        return Decision("no_action", state_back, (), f"no action: on {here}; {why}{waiting}")
    if cooling_left > 0:
        return Decision("no_action", snap, (), f"no action: on {here}, cooling period "
                                  f"{format_duration(round(cooling_left))} left before any return")
    ok_at = snap.usable_since(target.name)
    healthy_for = now - (ok_at if ok_at is not None else now)
    health = target.health
    into = _carrier(target.name)
    if snap.approval is not None and (approved is not None or snap.approval.to in (None, target.name)):
        a = snap.approval
        return _start_swap(replace(snap, approval=None), target.name, "operator",
                           f"failback approved by {a.who} ({a.why}); {target.name} healthy ({health})", now,
                           f"returning to {into}: approved by {a.who} ({a.why}), {target.name} {health}", rules)
    if rules.failback_mode == "sustained" and healthy_for >= rules.sustained_recovery:
        reason = f"{target.name} healthy for {format_duration(round(healthy_for))} (sustained recovery)"
        return _start_swap(snap, target.name, "automatic", reason, now, f"returning to {into}: {reason}", rules)
    pending = replace(snap, state=PairState.FAILBACK_PENDING, since=now) \
        if snap.state is not PairState.FAILBACK_PENDING else snap
    if rules.failback_mode == "approval":
        pending, alerts = _alert_once(pending, Notify(
            "failback_ready", "info", f"{target.name} carrier healthy again ({health}); traffic stays on "
                                      f"{here} until a person approves: `trunkguard failback --reason ...`"))
        return Decision("failback_ready", pending, alerts,
                        f"no action: {target.name} healthy ({health}) but failback needs a person's approval")
    return Decision("no_action",
                    pending, (), f"no action: {target.name} healthy for {format_duration(round(healthy_for))} of "
                                 f"the {format_duration(rules.sustained_recovery)} sustained recovery needed")


# ---- swaps finishing, operator actions -----------------------------------------------------------


def swap_finished(snap: PairSnapshot, ok: bool, now: float, detail: str = "",
                  rules: PolicyRules | None = None) -> Decision:
    """The platform adapter finished the swap in flight (written, read back) or gave up on it."""
    rules = rules or DEFAULT_RULES
    swap = snap.in_flight
    if swap is None:
        return Decision("swap_ignored", snap, (), "ignored a swap result: no swap was in flight")
    down = not swap.up  # down the chain (a failover) or up (a failback)
    if not ok:
        back = PairState.ACTIVATING if down else PairState.FAILBACK_PENDING
        snap = replace(snap, in_flight=None, state=PairState.PAUSED if snap.paused else back, since=now,
                       queued_since=now if down else snap.queued_since)
        return Decision("swap_failed", snap, (Notify("swap_failed", "critical",
                                      f"the swap to {_carrier(swap.to)} failed: {detail}; routing unchanged, "
                                      "retrying at the next poll"),),
                        f"the swap to {_carrier(swap.to)} failed ({detail}); routing is unchanged")
    first = swap.to == rules.first
    state = PairState.PRIMARY_ACTIVE if first else PairState.SECONDARY_ACTIVE
    a = snap.approval  # a person's approved jump stays for the steps still to go; any other is used
    kept = a if a is not None and a.to is not None and rules.rank(a.to) < rules.rank(swap.to) else None
    snap = replace(snap, in_flight=None, active=swap.to, state=PairState.PAUSED if snap.paused else state,
                   since=now, queued_since=None, escalated=False, alerted=frozenset(),
                   activated_at=snap.activated_at if first else now, approval=kept)
    kind = "swap_committed" if down else "failback_committed"
    return Decision("swap_committed", snap, (Notify(kind, "critical" if down else "info",
                                  f"inbound routing now on {_carrier(swap.to)} "
                                  f"({swap.trigger}): {swap.reason}"),),
                    f"committed: inbound routing is on {_carrier(swap.to)} ({swap.trigger}, key {swap.key})")


def swap_withdrawn(before: PairSnapshot, current: PairSnapshot, detail: str) -> Decision:
    """The swap in `current` was never started (its intent could not be committed, the lease was near
    expiry): back to the snapshot `before` it, keeping the swap count so the next key is a new one."""
    swap = current.in_flight
    to = f"the swap to {_carrier(swap.to)}" if swap else "the swap"
    return Decision("swap_withdrawn",
                    replace(before, swaps=current.swaps), (), f"{to} was not started ({detail}); routing is unchanged")


def adopt(snap: PairSnapshot, active: str, now: float, when: str, detail: str = "", *, hold: bool = False,
          rules: PolicyRules | None = None) -> Decision:
    """The platform routes to `active` and the stored snapshot said otherwise: the platform is the truth.
    Nothing is written; the snapshot takes its routing, a queued activation or approval is dropped, and a
    carrier after the first adopted this way starts its cooling period now (no failback at the first good
    answer). With `hold` (a change made behind trunkguard's back while it knew the routing), automatic
    actions are paused, so trunkguard never writes to undo it by itself: a person re-asserts or resumes."""
    first = active == (rules or DEFAULT_RULES).first
    state = PairState.PRIMARY_ACTIVE if first else PairState.SECONDARY_ACTIVE
    held = OperatorAction("pause", "trunkguard", f"the routing changed outside trunkguard ({when})", now) \
        if hold and snap.paused is None else snap.paused
    adopted = replace(snap, active=active, state=PairState.PAUSED if held else state, since=now, paused=held,
                      queued_since=None, escalated=False, approval=None, alerted=frozenset(),
                      activated_at=snap.activated_at if first else now)
    said = f"trunkguard last wrote the {snap.active} carrier" if hold else f"the store said {snap.active}"
    shown = f": {detail}" if detail and hold else ""
    sentence = (f"the platform routes to the {active} carrier ({when}{shown}); {said}: adopting the "
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
    rules = rules or DEFAULT_RULES
    by = f"{action.who} ({action.why})"
    if action.kind == "ack":
        return Decision("acknowledged",
                        replace(snap, acked=action), (Notify("acknowledged", "info", f"acknowledged by {by}"),),
                        f"acknowledged by {by}: the page stops escalating; routing stays on "
                        f"{_carrier(snap.active)} and nothing else changes")
    if action.kind == "pause":
        return Decision("paused", replace(snap, state=PairState.PAUSED if snap.in_flight is None else snap.state,
                                paused=action, since=now, queued_since=None),
                        (Notify("paused", "warning", f"automatic actions paused by {by}"),),
                        f"paused by {by}: no automatic action until resumed"
                        + (" (the swap in flight completes first)" if snap.in_flight else ""))
    if action.kind == "resume":
        if snap.paused is None:
            return Decision("operator_ignored", snap, (), f"resume by {by} ignored: not paused")
        state = PairState.PRIMARY_ACTIVE if snap.active == rules.first else PairState.SECONDARY_ACTIVE
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
            back = PairState.PRIMARY_ACTIVE if snap.active == rules.first else PairState.SECONDARY_ACTIVE
            return Decision("activation_cancelled", replace(snap, state=back, since=now, queued_since=None),
                            (Notify("activation_cancelled", "warning", f"queued activation cancelled by {by}"),),
                            f"cancelled the queued activation: {by}")
        if snap.approval is not None:
            return Decision("failback_approval_withdrawn",
                            replace(snap, approval=None), (), f"withdrew the failback approval: {by}")
        return Decision("operator_ignored", snap, (), f"cancel by {by}: nothing queued to cancel")
    if snap.in_flight is not None:
        return Decision("operator_refused",
                        snap, (), f"{action.kind} by {by} refused: a swap to {_carrier(snap.in_flight.to)} "
                                  "is in flight")
    rank = rules.rank(snap.active)
    if action.to is not None and action.to not in rules.chain:
        return Decision("operator_refused",
                        snap, (), f"{action.kind} by {by} refused: {action.to!r} is not a carrier of the chain "
                                  f"({', '.join(rules.chain)})")
    if action.kind == "failover":
        below = _below(snap, rules)
        if not below:
            return Decision("operator_ignored",
                            snap, (), f"failover by {by} ignored: routing is already on {_carrier(snap.active)}"
                                      + (", the last of the chain" if len(rules.chain) > 2 else ""))
        to = action.to or below[0]
        if to not in below:
            return Decision("operator_refused", snap, (), f"failover by {by} refused: {_carrier(to)} is not below "
                                      f"{_carrier(snap.active)} in the chain; `trunkguard failback --to {to}` "
                                      "approves a move up")
        if action.skip:  # the gates not named are checked: only what the person knowingly skips is skipped
            skipped = ", ".join(action.skip)
            gaps = readiness_gaps(obs, replace(rules, gates=rules.gates - set(action.skip)), to) if obs else []
            if gaps:
                return Decision("operator_refused",
                                snap, (), f"failover by {by} refused: skipping {skipped}, {_the(to)} is still not "
                                          f"ready: {'; '.join(gaps)}")
            return _start_swap(snap, to, "operator", f"forced by {by}; gate {skipped} skipped, the other "
                               "gates passed; breaker not checked", now,
                               f"activating {_carrier(to)}: forced by {by}, gate {skipped} skipped", rules)
        return _start_swap(snap, to, "operator", f"forced by {by}; readiness and breaker not checked",
                           now, f"activating {_carrier(to)}: forced by {by}", rules)
    if rank == 0:  # failback
        return Decision("operator_ignored",
                        snap, (), f"failback by {by} ignored: routing is already on {_carrier(snap.active)}")
    if action.to is not None and rules.rank(action.to) >= rank:
        return Decision("operator_refused", snap, (), f"failback by {by} refused: {_carrier(action.to)} is not above "
                                  f"{_carrier(snap.active)} in the chain; `trunkguard failover --to {action.to}` "
                                  "moves down")
    target = f"{_the(action.to)} is healthy" if action.to is not None else \
        ("the primary is healthy" if len(rules.chain) == 2 else "the carrier above is healthy")
    return Decision("failback_approved",
                    replace(snap, approval=action), (), f"failback approved by {by}; it runs once the cooling "
                                                        f"period is over and {target}")


# ---- helpers -------------------------------------------------------------------------------------


DEFAULT_RULES = PolicyRules()


def _carrier(name: str) -> str:
    """A carrier in a sentence: "the primary carrier" for a pair's roles, "carrier emea-b" otherwise."""
    return f"the {name} carrier" if name in ("primary", "secondary") else f"carrier {name}"


def _the(name: str) -> str:
    """Short: "the secondary" for a pair's roles, "carrier emea-b" otherwise."""
    return f"the {name}" if name in ("primary", "secondary") else f"carrier {name}"


def _clock(at: float | None) -> str:
    """A wall-clock time for sentences (UTC)."""
    return dt.datetime.fromtimestamp(at or 0.0, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _edge_note(obs: Observation, now: float, carrier: str = "primary") -> str:
    """What the platform's own edge says of the carrier being left, and how old that view is."""
    seen = obs.edge.get(carrier)
    if seen is None:
        return ""
    age = f" (its view {format_age(max(0.0, now - obs.edge_as_of))} old)" if obs.edge_as_of is not None else ""
    return (f"; the platform's edge still sees the {carrier} answering OPTIONS" if seen else
            f"; the platform's edge sees no {carrier} trunk answering either") + age


def readiness_gaps(obs: Observation, rules: PolicyRules, carrier: str = "secondary") -> list[str]:
    """Why `carrier` is not ready to take the calls (empty when it is), one phrase per failing gate."""
    gaps: list[str] = []
    trunks = obs.carrier(carrier)
    if "trunks" in rules.gates and not any(t.usable for t in trunks):
        gaps.append(f"no {carrier} trunk is usable ({_count(trunks)})")
    if "trunks" in rules.gates and obs.edge.get(carrier) is False:
        gaps.append(f"the platform's edge sees no {carrier} trunk in service answering OPTIONS")
    r = obs.ready_of(carrier)
    checks = (("sweep", r.sweep_ok, "the DID sweep", "has"),
              ("certs", r.certs_ok, "TLS certificates", "have"),
              ("parity", r.parity_ok, "profile parity", "has"))
    notes = dict(r.notes)
    for gate, value, name, verb in checks:
        if gate in rules.gates and value is not True:
            note = notes.get(gate)
            gaps.append(f"{name}: {note}" if note else f"{name} {f'{verb} not run' if value is None else 'failed'}")
    return gaps


def partial_sweep(obs: Observation, rules: PolicyRules, carrier: str = "secondary") -> str | None:
    """With `sweep_min_ready` below 1, a failed sweep that still proved that share of the DIDs may let a
    hard-down carrier's calls move (what calls could reach beats none): the words for it, or None."""
    r = obs.ready_of(carrier)
    if "sweep" not in rules.gates or r.sweep_ok is not False or rules.sweep_min_ready >= 1.0 \
            or r.sweep_ready is None or r.sweep_ready < rules.sweep_min_ready:
        return None
    return f"the DID sweep ({r.sweep_ready:.0%} of the DIDs proven, {rules.sweep_min_ready:.0%} needed)"


def unconfigured_note(rules: PolicyRules) -> str:
    """The gates that are on but have nothing to check, for the sentence that says the secondary is ready."""
    return "".join(f" ({gate}: not configured ({why}))" for gate, why in rules.unconfigured)


def _start_swap(snap: PairSnapshot, to: str, trigger: Trigger, reason: str, now: float, sentence: str,
                rules: PolicyRules) -> Decision:
    if rules.observe:  # observe mode: say it, page once, change nothing
        snap, alerts = _alert_once(snap, Notify(f"would_swap_to_{to}", "warning",
                                                f"observe mode: would swap to {_carrier(to)}: {reason}; "
                                                "nothing written"))
        return Decision("would_swap", snap, alerts, f"observe mode: would swap to {_carrier(to)} ({sentence}); "
                                      "nothing written")
    number = snap.swaps + 1
    up = rules.moves_up(snap.active, to)
    swap = Swap(to, trigger, reason, f"{rules.key_prefix}-{number}-to-{to}", now, up)
    state = PairState.RESTORING if up else PairState.ACTIVATING
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
