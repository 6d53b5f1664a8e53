"""The one machine: a pure fold over every event the world can send, driven by `trunkguard run`
and `trunkguard simulate` alike, so what the simulator predicts is what the daemon does.

`step(state, event, now, rules) -> Step(state, effects, said)`. The state is frozen: every
trunk's health, the probe schedule, the carrier pair, the platform's counts and views, whether
this replica holds the lease. Effects are plain values the caller carries out: probes to send,
a poll of the platform, decisions to record, notifications, and at most one swap at a time.
Sentences are what an operator reads, in order; each is `Said` with its stable event name, level and
fields, which is how the daemon logs it (docs/logs.md).

When it decides (the policy in `failover.decide`): on every poll tick, after a trunk change that
matters (not a routine suspicion raised or cleared), after a call count, edge view or check result
is read, after an operator's action, and after a swap commits. A failed swap is retried at the
next poll, not at once; a swap that was never started (its intent could not be stored) likewise.
A replica without the lease folds everything in and probes, but changes nothing and says what it
would have done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import assert_never

from trunkguard.core.events import (
    CallsRead,
    ChecksRead,
    EdgeRead,
    Effect,
    Event,
    LeaseChanged,
    Level,
    Log,
    LogValue,
    MediaDone,
    OperatorDid,
    Poll,
    ProbeDone,
    ProbeLate,
    Record,
    RecordAction,
    RoutingRead,
    Said,
    SavePair,
    SendProbe,
    StartSwap,
    SwapSettled,
    Tick,
    VantagesRead,
)
from trunkguard.core.failover import (
    DEFAULT_GROUP,
    NOT_CHECKED,
    Decision,
    Notify,
    Observation,
    OperatorAction,
    PairSnapshot,
    PolicyRules,
    Readiness,
    adopt,
    decide,
    operator,
    swap_finished,
    swap_withdrawn,
)
from trunkguard.core.health import (
    TrunkHealth,
    TrunkState,
    media_result,
    probe_overdue,
    probe_result,
    remote_suspicion,
    routine_change,
    targets_result,
)
from trunkguard.core.scheduler import (
    Schedule,
    TrunkSpec,
    correlate,
    correlated,
    cross_check,
    due,
    finished,
    new_schedule,
    next_due,
    retest_media,
    suspicion,
    uncorrelate,
)
from trunkguard.core.values import Row, evolve
from trunkguard.core.vantage import VantageView, states, view_of

# ---- rules and state ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupRules:
    """One routing group: its name and its policy (its chain, thresholds, gates). Groups share the
    trunks (a carrier in two groups is probed once) and decide apart: one group's outage never moves
    another's routing."""

    name: str
    policy: PolicyRules
    carriers: frozenset[str] = field(default=frozenset(), compare=False, repr=False)  # its chain, as a set

    def __post_init__(self) -> None:
        object.__setattr__(self, "carriers", frozenset(self.policy.chain))


@dataclass(frozen=True)
class MachineRules:
    """Everything the machine is told by the config, as plain frozen values (built by the wiring).
    `policy` is the deployment's (the first group's): the poll interval and the vantages' quorum;
    `groups` each group's own (none given: one group, `default`, with `policy`)."""

    trunks: tuple[TrunkSpec, ...]
    policy: PolicyRules = field(default_factory=PolicyRules)
    index: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    sizes: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)  # trunks per carrier
    vantage: str = ""  # this process's vantage name (its view counts under it when the quorum lists it)
    groups: tuple[GroupRules, ...] = ()
    group_index: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)  # group name -> place
    group_trunks: tuple[tuple[int, ...], ...] = field(default=(), compare=False, repr=False)  # each group's trunks

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", MappingProxyType({t.name: i for i, t in enumerate(self.trunks)}))
        sizes: dict[str, int] = {}
        for t in self.trunks:
            sizes[t.carrier] = sizes.get(t.carrier, 0) + 1
        object.__setattr__(self, "sizes", MappingProxyType(sizes))
        if not self.groups:
            object.__setattr__(self, "groups", (GroupRules(DEFAULT_GROUP, self.policy),))
        object.__setattr__(self, "group_index", MappingProxyType({g.name: i for i, g in enumerate(self.groups)}))
        object.__setattr__(self, "group_trunks", tuple(
            tuple(i for i, t in enumerate(self.trunks) if t.carrier in g.carriers) for g in self.groups))

    def down(self, carrier: str, usable: int, policy: PolicyRules | None = None) -> bool:
        """Does this many usable trunks make the carrier down? A chain's first by its rule, others at none.
        Without `policy` (the vantages' views): by the rule of the group the carrier is first in, if any."""
        if policy is None:
            policy = next((g.policy for g in self.groups if g.policy.first == carrier), self.policy)
        return policy.down_rule(carrier, usable, self.sizes.get(carrier, 0)) is not None

    def with_key_prefix(self, prefix: str) -> MachineRules:
        """The same rules with swap keys starting `prefix` (with several groups, each group's adds its name)."""
        several = len(self.groups) > 1
        groups = tuple(replace(g, policy=replace(g.policy, key_prefix=f"{prefix}-{g.name}" if several else prefix))
                       for g in self.groups)
        return replace(self, policy=groups[0].policy, groups=groups)

    def groups_of(self, carrier: str) -> list[int]:
        """The groups whose chain has this carrier, by place."""
        return [i for i, g in enumerate(self.groups) if carrier in g.carriers]


@dataclass(frozen=True)
class GroupState:
    """One routing group's own part of the state: its pair snapshot, the swap it has in flight, whether
    the platform's routing of its objects has been read since taking the lease, its last sentence."""

    name: str
    pair: PairSnapshot
    before_swap: PairSnapshot | None = None  # the snapshot a swap in flight started from
    routing_read: bool = True  # False from taking the lease until its routing is read: no action
    last_sentence: str = "starting"
    last_recorded: str | None = None
    calls: int | None = None  # live calls on its routing, as its platform reports them (the breaker's input)
    calls_detail: str = "not read yet"


@dataclass(frozen=True)
class MachineState:
    trunks: Row[TrunkHealth]  # in the rules' trunk order
    groups: tuple[GroupState, ...]  # in the rules' group order
    schedule: Schedule
    next_poll: float
    readiness: tuple[tuple[str, Readiness], ...] = ()  # each carrier's checks, by name (never read: not ready)
    edge: tuple[tuple[str, bool | None], ...] = ()
    edge_as_of: float | None = None
    leader: bool = False
    usable: tuple[tuple[str, int], ...] = ()  # usable trunks per carrier, kept as trunks change
    vantages: tuple[VantageView, ...] = ()  # the other vantages' latest views, by name order

    # The first group's part, read as the single pair's by everything that knows one group.
    @property
    def pair(self) -> PairSnapshot:
        return self.groups[0].pair

    @property
    def before_swap(self) -> PairSnapshot | None:
        return self.groups[0].before_swap

    @property
    def last_sentence(self) -> str:
        return self.groups[0].last_sentence

    @property
    def calls(self) -> int | None:
        return self.groups[0].calls

    @property
    def calls_detail(self) -> str:
        return self.groups[0].calls_detail

    @property
    def routing_read(self) -> bool:
        return all(g.routing_read for g in self.groups)

    def group(self, name: str) -> GroupState | None:
        return next((g for g in self.groups if g.name == name), None)

    def observation(self, rules: MachineRules | None = None, now: float = 0.0, gi: int = 0) -> Observation:
        """What group `gi` decides on: with one group, every trunk; with several, its carriers' only."""
        views: dict[str, VantageView] = {}
        if rules is not None and rules.policy.quorum.active:
            views = {v.name: v for v in self.vantages}
            views[rules.vantage] = own_view(self, rules, now)
        trunks: Sequence[TrunkHealth] = self.trunks
        if rules is not None and len(rules.groups) > 1:
            trunks = [self.trunks[i] for i in rules.group_trunks[gi]]
        return Observation(trunks, self.groups[gi].calls, dict(self.readiness), dict(self.edge), self.edge_as_of,
                           views)

    def readiness_of(self, carrier: str) -> Readiness:
        return next((r for name, r in self.readiness if name == carrier), NOT_CHECKED)

    def __repr__(self) -> str:
        down = sum(t.state is not TrunkState.UP for t in self.trunks)
        pairs = " ".join(f"{g.name}:{g.pair.state.value}/{g.pair.active}" for g in self.groups)
        return f"<MachineState {pairs} {len(self.trunks)} trunks ({down} not up) leader={self.leader}>"


def own_view(state: MachineState, rules: MachineRules, now: float) -> VantageView:
    """What this process's probes say of the carriers, as it reports it to the others. A down trunk in
    maintenance (in any group) is left out, as the pair's own judgement leaves it out (core/failover.decide)."""
    away = {m.trunk for g in state.groups for m in g.pair.maintenance}
    trunks = state.trunks if not away else [t for t in state.trunks if t.name not in away or t.usable]
    return view_of(rules.vantage, trunks, rules.down, now)


def initial(rules: MachineRules, now: float, *, leader: bool = False,
            readiness: Readiness | Mapping[str, Readiness] | None = None) -> MachineState:
    """The state at start: every group on its chain's first carrier. `readiness`: per carrier, or one
    value for every carrier after the first of a chain."""
    trunks = Row(TrunkHealth(t.name, t.carrier, since=now) for t in rules.trunks)
    carriers = sorted({t.carrier for t in trunks})
    later = sorted({c for g in rules.groups for c in g.policy.chain[1:]})
    ready = {c: readiness for c in later} if isinstance(readiness, Readiness) else dict(readiness or {})
    groups = tuple(GroupState(g.name, PairSnapshot(active=g.policy.first, since=now)) for g in rules.groups)
    return MachineState(trunks, groups, new_schedule(rules.trunks, now),
                        next_poll=now, readiness=tuple(sorted(ready.items())), leader=leader,
                        usable=tuple((c, sum(t.carrier == c for t in trunks)) for c in carriers))


def next_wake(state: MachineState, rules: MachineRules) -> float:
    """When to send the next Tick (nothing changes by time alone before then)."""
    return min(next_due(state.schedule, rules.trunks, state.trunks), state.next_poll)


@dataclass(frozen=True)
class Step:
    state: MachineState
    effects: tuple[Effect, ...]
    said: tuple[Said, ...]

    @property
    def sentences(self) -> tuple[str, ...]:
        return tuple(s.sentence for s in self.said)


# ---- the fold -----------------------------------------------------------------------------------


class _Out:
    __slots__ = ("effects", "said")

    def __init__(self) -> None:
        self.effects: list[Effect] = []
        self.said: list[Said] = []

    def say(self, event: str, sentence: str, level: Level = "info", **fields: LogValue) -> None:
        self.said.append(Said(event, sentence, level, tuple(fields.items())))


def _trunk_said(before: TrunkHealth, h: TrunkHealth, sentence: str) -> Said:
    """A trunk's sentence with its name: its state changed, or (same state) whether it carries media."""
    about: dict[str, LogValue] = {"trunk": h.name, "carrier": h.carrier}
    if h.state is not before.state:
        return Said("trunk_state_changed", sentence, "warning" if h.state is TrunkState.DOWN else "info",
                    (*about.items(), ("state", h.state.value), ("previous", before.state.value)))
    media = bool(h.media_ok) if h.media_ok is not None else True
    return Said("trunk_media_changed", sentence, "info" if media else "warning",
                (*about.items(), ("media_ok", media)))


def _decision_fields(before: PairSnapshot, d: Decision) -> dict[str, LogValue]:
    """What a decision's log line carries: the pair's state and carrier after it, and the swap it
    starts, or the one it settles (`to`, `intent_key`)."""
    found: dict[str, LogValue] = {"state": d.snapshot.state.value, "active": d.snapshot.active}
    swap = d.swap or (before.in_flight if d.snapshot.in_flight is None else None)
    if swap is not None:
        found.update(to=swap.to, intent_key=swap.key, trigger=swap.trigger)
    kinds = [i.kind for i in d.intents if isinstance(i, Notify)]
    if kinds:
        found["notify"] = ",".join(kinds)
    return found


def _decision_level(d: Decision) -> Level:
    """A decision that pages at warning or above, or moves calls down the chain, is a warning."""
    swap = d.swap
    if swap is not None and not swap.up:
        return "warning"
    return "warning" if any(isinstance(i, Notify) and i.severity != "info" for i in d.intents) else "info"


def step(state: MachineState, event: Event, now: float, rules: MachineRules) -> Step:
    out = _Out()
    if isinstance(event, Tick):
        state = _tick(state, now, rules, out)
    elif isinstance(event, ProbeDone):
        i = rules.index.get(event.trunk)
        if i is not None:
            h, ok = state.trunks[i], event.ok
            if event.targets:  # a name's addresses, each with its own health; the rule judges the probe
                h, ok, said = targets_result(h, event.seq, event.targets, now, rules.trunks[i].rules)
                for change in said:
                    out.say("trunk_target_changed", change.sentence, "warning" if change.down else "info",
                            trunk=h.name, carrier=h.carrier, target=change.target,
                            state="down" if change.down else "up")
                    if state.leader:
                        out.effects.append(_trunk_record(state, rules, h, change.sentence))
            h, sentence = probe_result(h, event.seq, ok, now, rules.trunks[i].rules,
                                       code=event.code, detail=event.detail)
            state = evolve(state, schedule=finished(state.schedule, i, event.seq))
            state = _trunk(state, i, h, sentence, now, rules, out)
    elif isinstance(event, ProbeLate):
        i = rules.index.get(event.trunk)
        if i is not None:
            h, sentence = probe_overdue(state.trunks[i], event.seq, now)
            state = _trunk(state, i, h, sentence, now, rules, out)
    elif isinstance(event, MediaDone):
        i = rules.index.get(event.trunk)
        if i is not None:
            spec = rules.trunks[i]
            h, sentence, retest = media_result(state.trunks[i], event.ok, now, event.detail, spec.rules)
            if retest:
                state = evolve(state, schedule=retest_media(state.schedule, i, now + spec.media_confirm_interval))
            state = _trunk(state, i, h, sentence, now, rules, out)
    elif isinstance(event, CallsRead):
        gi = rules.group_index.get(event.group)
        if gi is not None:
            state = _decide(_group(state, gi, calls=event.count, calls_detail=event.detail), gi, now, rules, out)
    elif isinstance(event, EdgeRead):
        as_of = now if event.as_of is None else min(now, event.as_of)
        if event.view != state.edge:
            state = _decide_all(evolve(state, edge=event.view, edge_as_of=as_of), now, rules, out)
        elif as_of != state.edge_as_of:
            state = evolve(state, edge_as_of=as_of)  # confirmed again: only its age changes
    elif isinstance(event, ChecksRead):
        if event.readiness != state.readiness_of(event.carrier):
            ready = dict(state.readiness)
            ready[event.carrier] = event.readiness
            state = evolve(state, readiness=tuple(sorted(ready.items())))
            for gi in rules.groups_of(event.carrier):
                state = _decide(state, gi, now, rules, out)
    elif isinstance(event, OperatorDid):
        state = _operator(state, event.action, now, rules, out)
    elif isinstance(event, SwapSettled):
        state = _settled(state, event, now, rules, out)
    elif isinstance(event, VantagesRead):
        state = _vantages(state, event, now, rules, out)
    elif isinstance(event, RoutingRead):
        state = _routing(state, event, now, rules, out)
    elif isinstance(event, LeaseChanged):
        state = _lease(state, event, now, rules, out)
    else:  # a new kind of event is a mypy error here until it is folded in
        assert_never(event)
    return Step(state, tuple(out.effects), tuple(out.said))


def _group(state: MachineState, gi: int, **changes: object) -> MachineState:
    """The state with group `gi`'s part changed."""
    groups = list(state.groups)
    groups[gi] = evolve(groups[gi], **changes)
    return evolve(state, groups=tuple(groups))


def _trunk_record(state: MachineState, rules: MachineRules, h: TrunkHealth, sentence: str) -> Record:
    """A trunk's change for the audit trail, under the first group its carrier is in."""
    gi = next(iter(rules.groups_of(h.carrier)), 0)
    g = state.groups[gi]
    return Record("trunk", sentence, g.pair, h.name, g.name)


def _tick(state: MachineState, now: float, rules: MachineRules, out: _Out) -> MachineState:
    schedule, tasks = due(state.schedule, rules.trunks, state.trunks, now)
    out.effects.extend(SendProbe(t) for t in tasks)
    if schedule is not state.schedule:
        state = evolve(state, schedule=schedule)
    if now >= state.next_poll:
        out.effects.append(Poll())
        state = _decide_all(evolve(state, next_poll=now + rules.policy.poll_interval), now, rules, out)
    return state


def _trunk(state: MachineState, i: int, h: TrunkHealth, sentence: str | None, now: float, rules: MachineRules,
           out: _Out) -> MachineState:
    before = state.trunks[i]
    schedule = state.schedule
    trunks = state.trunks.set(i, h)
    if h.state is not before.state:
        started = correlated(schedule, i)
        if h.state is TrunkState.DOWN and started is not None and sentence is not None:
            by, at = started
            sentence += f" (confirmation started by {by}'s suspicion {now - at:.1f} s earlier)"
        schedule = suspicion(schedule, i, h.state is TrunkState.SUSPECT)
        if before.state is TrunkState.UP and h.state is TrunkState.SUSPECT:
            schedule = correlate(schedule, rules.trunks, trunks, i, now)
            if rules.policy.quorum.active:  # is it this host's network? the other carriers say
                schedule = cross_check(schedule, rules.trunks, trunks, i, now)
        elif h.state is not TrunkState.SUSPECT:
            schedule = uncorrelate(schedule, i)
    elif h.state is TrunkState.UP:
        schedule = uncorrelate(schedule, i)  # it answered: whoever suspected the carrier, this one is fine
    usable, matters = state.usable, []
    if h.usable != before.usable or h.state is not before.state:
        counts = dict(usable)
        left = counts[h.carrier] + (h.usable - before.usable)
        # The policy looks at a carrier as a whole: whether it is down by its rule (no usable trunk,
        # or the primary's `primary_down_when`), and, once it is, whether every trunk is down. Only
        # a change of that is worth a decision (thousands of trunks going down one by one would
        # otherwise each re-read every trunk); and only for the groups whose chain has the carrier.
        for gi in rules.groups_of(h.carrier):
            policy = rules.groups[gi].policy
            down = rules.down(h.carrier, left, policy)
            if down != rules.down(h.carrier, counts[h.carrier], policy) or down \
                    or bool(state.groups[gi].pair.maintenance):
                matters.append(gi)
        if left != counts[h.carrier]:
            counts[h.carrier] = left
            usable = tuple(sorted(counts.items()))
    state = evolve(state, trunks=trunks, schedule=schedule, usable=usable)
    if sentence is None:
        return state
    said = _trunk_said(before, h, sentence)
    if routine_change(before.state, h.state) and before.usable == h.usable:
        out.effects.append(Log(said))
        return state
    out.said.append(said)
    if state.leader:
        out.effects.append(_trunk_record(state, rules, h, sentence))
    for gi in matters:
        state = _decide(state, gi, now, rules, out)
    return state


def _decide_all(state: MachineState, now: float, rules: MachineRules, out: _Out) -> MachineState:
    for gi in range(len(rules.groups)):
        state = _decide(state, gi, now, rules, out)
    return state


def _decide(state: MachineState, gi: int, now: float, rules: MachineRules, out: _Out,
            kind: str = "cycle") -> MachineState:
    g = state.groups[gi]
    d = decide(g.pair, state.observation(rules, now, gi), now, rules.groups[gi].policy)
    if state.leader and not g.routing_read:
        return _group(state, gi, last_sentence=f"not acting until the platform's routing is read; would say: "
                                               f"{d.sentence}")
    return _apply(state, gi, d, kind, out, rules)


def _routing(state: MachineState, event: RoutingRead, now: float, rules: MachineRules, out: _Out) -> MachineState:
    """The platform's routing, read: the same as the snapshot says, or adopted (never written back)."""
    gi = rules.group_index.get(event.group)
    if gi is None:
        out.effects.append(Log(Said("routing_read", f"ignored a routing read for group {event.group!r}: the config "
                                    "has no such group", fields=(("group", event.group),))))
        return state
    pair = state.groups[gi].pair
    state = _group(state, gi, routing_read=True)
    named = _in_group(rules, gi)
    if event.active is None and state.leader and pair.in_flight is None:  # neither carrier: a person must look
        sentence = (f"the platform's routing{named} matches neither carrier ({event.when}: {event.detail}); keeping "
                    f"the stored view (the {pair.active} carrier)")
        out.say("routing_unknown", sentence, "warning", active=pair.active, **_group_field(rules, gi))
        out.effects.append(Record("routing", sentence, pair, group=event.group))
        out.effects.append(Notify("routing_drift", "critical", f"{sentence}. trunkguard wrote nothing to get here; "
                                  "`trunkguard failover` or `trunkguard failback` re-asserts one carrier.",
                                  event.group))
        return _decide(state, gi, now, rules, out)
    if event.active is None or pair.in_flight is not None or event.active == pair.active or not state.leader:
        sentence = (f"the platform{named} routes to the {event.active or 'neither'} carrier ({event.when})"
                    + (f"; the swap {pair.in_flight.key} is in flight" if pair.in_flight is not None else
                       ", as the store says"))
        out.effects.append(Log(Said("routing_read", sentence, fields=(("routing", event.active or "neither"),
                                                                      *_group_field(rules, gi).items()))))
        return _decide(state, gi, now, rules, out)
    state = _apply(state, gi, adopt(pair, event.active, now, event.when, event.detail, hold=event.hold,
                                    rules=rules.groups[gi].policy), "routing", out, rules, force=True)
    return _decide(state, gi, now, rules, out)


def _vantages(state: MachineState, event: VantagesRead, now: float, rules: MachineRules, out: _Out) -> MachineState:
    """The other vantages' views: a trunk newly failing from a live one is confirmed here at once;
    and when a vantage's count changes (down, up, isolated), the quorum decides again."""
    before = {v.name: v for v in state.vantages}
    views = tuple(sorted((v for v in event.views if v.name != rules.vantage), key=lambda v: v.name))
    quorum = rules.policy.quorum
    for v in views:
        old = before.get(v.name)
        if not v.reaches or now - v.at > quorum.stale_after:
            continue  # isolated: what it cannot reach says nothing of the trunks
        fresh = set(v.failing) - set(old.failing if old is not None else ())
        for name in sorted(fresh):
            i = rules.index.get(name)
            if i is not None:
                h, sentence = remote_suspicion(state.trunks[i], now, v.name)
                if sentence is not None:
                    state = _trunk(state, i, h, sentence, now, rules, out)
    if not quorum.active:  # kept for the next read's comparison only: a new time alone is no change (no trace)
        same = len(views) == len(state.vantages) and all(
            (v.name, v.failing, v.reaches) == (w.name, w.failing, w.reaches)
            for v, w in zip(views, state.vantages, strict=True))
        return state if same else evolve(state, vantages=views)
    primary = rules.policy.first
    edge, edge_at = dict(state.edge).get(primary), state.edge_as_of
    was = states(primary, before, edge, edge_at, now, quorum)
    state = evolve(state, vantages=views)
    seen = states(primary, {v.name: v for v in views}, edge, edge_at, now, quorum)
    changed = [f"{s.name} sees the primary {s.state}" if s.state != "isolated" else f"{s.name} is isolated ({s.why})"
               for s, w in zip(seen, was, strict=True) if s.state != w.state and s.name != rules.vantage]
    if not changed:
        return state
    sentence = f"vantage {'; '.join(changed)}"
    out.say("vantage_changed", sentence, "warning" if any(s.state != "up" for s in seen) else "info")
    if state.leader:
        out.effects.append(Record("vantage", sentence, state.pair, group=state.groups[0].name))
    return _decide_all(state, now, rules, out)


def _in_group(rules: MachineRules, gi: int) -> str:
    """" in group na" in a sentence, when there are several groups to tell apart."""
    return f" in group {rules.groups[gi].name}" if len(rules.groups) > 1 else ""


def _group_field(rules: MachineRules, gi: int) -> dict[str, LogValue]:
    return {"group": rules.groups[gi].name} if len(rules.groups) > 1 else {}


def _apply(state: MachineState, gi: int, d: Decision, kind: str, out: _Out, rules: MachineRules, *,
           force: bool = False, by: OperatorAction | None = None) -> MachineState:
    """Keep the decision and say what to carry out: notifications, a record, at most one swap.
    `by`: the person's action it answers, named in its log line."""
    g = state.groups[gi]
    sentence = d.sentence if len(rules.groups) == 1 else f"group {g.name}: {d.sentence}"
    if not state.leader:
        return _group(state, gi, last_sentence=f"standby: this replica does not hold the lease; would say: "
                                               f"{sentence}")
    notable = force or bool(d.intents) or d.snapshot.state is not g.pair.state
    swap = d.swap
    said = Said(d.event, sentence, _decision_level(d), tuple({
        **_group_field(rules, gi), **_decision_fields(g.pair, d),
        **({"action": by.kind, "by": by.who} if by is not None else {})}.items()))
    if swap is not None:
        out.said.append(said)
        out.effects.append(StartSwap(swap, d.snapshot, sentence, g.name))
        state = _group(state, gi, pair=d.snapshot, before_swap=g.pair, last_sentence=sentence,
                       last_recorded=sentence)
    else:
        recorded = g.last_recorded
        if d.snapshot != g.pair or notable:
            if notable or sentence != recorded:
                out.effects.append(Record(kind, sentence, d.snapshot, group=g.name))
                recorded = sentence
            else:
                out.effects.append(SavePair(d.snapshot, g.name))
        if notable:
            out.said.append(said)
        state = _group(state, gi, pair=d.snapshot, last_sentence=sentence, last_recorded=recorded)
    prefix = "" if len(rules.groups) == 1 else f"group {g.name}: "
    out.effects.extend(replace(i, group=g.name, message=prefix + i.message) for i in d.intents
                       if isinstance(i, Notify))
    return state


def _operator(state: MachineState, action: OperatorAction, now: float, rules: MachineRules,
              out: _Out) -> MachineState:
    gi = rules.group_index.get(action.group)
    if gi is None:
        out.say("operator_refused", f"{action.kind} by {action.who} refused: there is no group {action.group!r} "
                f"(groups: {', '.join(g.name for g in rules.groups)})", action=action.kind, by=action.who)
        return state
    if not state.leader:
        out.say("operator_refused", f"{action.kind} by {action.who} refused: this replica does not hold the lease",
                action=action.kind, by=action.who)
        return state
    if not state.groups[gi].routing_read and action.kind in ("failover", "failback"):
        out.say("operator_refused", f"{action.kind} by {action.who} refused: the platform's routing"
                f"{_in_group(rules, gi)} has not been read yet (trunkguard acts only on what the platform shows)",
                action=action.kind, by=action.who)
        return state
    d = operator(state.groups[gi].pair, action, now, rules.groups[gi].policy, state.observation(rules, now, gi))
    out.effects.append(RecordAction(action, d.sentence))
    state = _apply(state, gi, d, "operator", out, rules, force=True, by=action)
    state = _decide(state, gi, now, rules, out)
    # A trunk is probed once for every group whose chain has its carrier: its maintenance is theirs too,
    # or another group would count the trunk's planned work against the carrier.
    i = rules.index.get(action.trunk or "") if action.kind in ("maintenance", "maintenance_end") else None
    for other in rules.groups_of(rules.trunks[i].carrier) if i is not None else ():
        if other != gi:
            o = operator(state.groups[other].pair, action, now, rules.groups[other].policy,
                         state.observation(rules, now, other))
            state = _decide(_apply(state, other, o, "operator", out, rules, force=True, by=action), other, now,
                            rules, out)
    return state


def _settled(state: MachineState, event: SwapSettled, now: float, rules: MachineRules, out: _Out) -> MachineState:
    gi = rules.group_index.get(event.group)
    flight = state.groups[gi].pair.in_flight if gi is not None else None
    if gi is None or flight is None or flight.key != event.key:
        out.effects.append(Log(Said("swap_ignored", f"ignored the result of swap {event.key}: it is not the swap in "
                                    "flight", fields=(("intent_key", event.key),))))
        return state
    g = state.groups[gi]
    policy = rules.groups[gi].policy
    if not event.attempted:  # retried at the next poll, so a store that refuses is not hammered
        before = g.before_swap or evolve(g.pair, in_flight=None)
        state = _apply(state, gi, swap_withdrawn(before, g.pair, event.detail), "swap", out, rules, force=True)
        return _group(state, gi, before_swap=None)
    state = _apply(state, gi, swap_finished(g.pair, event.applied, now, event.detail, policy), "swap", out,
                   rules, force=True)
    state = _group(state, gi, before_swap=None)
    return _decide(state, gi, now, rules, out) if event.applied else state


def _lease(state: MachineState, event: LeaseChanged, now: float, rules: MachineRules, out: _Out) -> MachineState:
    if event.leader == state.leader:
        return state
    if not event.leader:
        out.say("standby", f"standby: {event.detail or 'this replica no longer holds the lease'}", "warning")
        return evolve(state, leader=False, groups=tuple(evolve(g, before_swap=None) for g in state.groups))
    restored = dict(event.restored_groups)
    if event.restored is not None:
        restored.setdefault(rules.groups[0].name, event.restored)
    groups = []
    for gi, g in enumerate(state.groups):
        pair = restored.get(g.name, g.pair)
        if g.name in restored:
            out.say("state_restored", f"restored{_in_group(rules, gi)}: inbound routing on the {pair.active} carrier "
                    f"({pair.state.value})", "info", active=pair.active, state=pair.state.value,
                    **_group_field(rules, gi))
        groups.append(evolve(g, pair=pair, routing_read=not event.await_routing))
    state = evolve(state, leader=True, groups=tuple(groups))
    if event.await_routing:
        out.say("routing_awaited", "reading the platform's routing before acting")
    return _decide_all(state, now, rules, out)


__all__ = ["CallsRead", "ChecksRead", "EdgeRead", "Effect", "Event", "GroupRules", "GroupState", "LeaseChanged",
           "Log", "MachineRules", "MachineState", "MediaDone", "OperatorDid", "Poll", "ProbeDone", "ProbeLate",
           "Record", "RecordAction", "RoutingRead", "Said", "SavePair", "SendProbe", "StartSwap", "Step",
           "SwapSettled", "Tick", "VantagesRead", "initial", "next_wake", "own_view", "step"]
