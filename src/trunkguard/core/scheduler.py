"""When each trunk is probed: a frozen schedule and pure functions of the `now` they are given, so
the daemon (loop time) and the simulation (virtual time) run the same schedule.

- Regular OPTIONS probes every `interval` at a stable offset: the N trunks of a carrier that share
  an interval are evenly spaced (trunk i at i x interval / N; the secondary's half a slot later), so
  the carrier as a whole is sampled every interval / N and the probes of a thousand trunks never
  leave in the same millisecond. Slot times are multiples of the interval on the clock given, so
  a restart with the same trunk list keeps every trunk's offset.
- While a trunk is SUSPECT: confirmation probes every `confirm_interval`, several in flight, never
  more outstanding than the failures still needed to confirm it down.
- Media checks (INVITE with RTP) every `media_interval` when enabled, spread the same way.
- Correlation: a carrier's trunks share its fate, so when one turns SUSPECT, each of the carrier's
  other UP trunks gets one probe at once (a trunk unanswered at T1 is then suspected and confirmed
  by its own bursts, as always). At most `correlate_max` such probes per carrier per interval, and
  none while the carrier's last correlation is younger than a probe deadline (the suspicions it
  raises are its answer, not news), so a lossy carrier is not flooded. A healthy trunk's answer
  clears nothing but its own state.

Finding the due probes costs O(due), not O(trunks): each wheel keeps a cursor over its slots, and
only SUSPECT trunks are looked at for confirmations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from trunkguard.core.health import HealthRules, TrunkHealth, TrunkState
from trunkguard.core.values import Row, evolve

ProbeKind = Literal["options", "confirm", "correlate", "media"]


@dataclass(frozen=True)
class TrunkSpec:
    """One trunk's probing rules, with its place on the carrier's wheel."""

    name: str
    carrier: str
    interval: float
    timeout: float
    confirm_interval: float
    rules: HealthRules
    media_interval: float | None = None
    offset: float = 0.0
    media_offset: float = 0.0
    media_confirm_interval: float = 5.0  # a failed (or first good) test call is re-tested this soon
    correlate: bool = False
    correlate_max: int = 0  # correlated probes the carrier may receive per interval


@dataclass(frozen=True)
class ProbeTask:
    trunk: str
    seq: int
    kind: ProbeKind
    timeout: float


@dataclass(frozen=True)
class Wheel:
    """The trunks sharing one carrier and one interval, at evenly spaced offsets. Slot `c` is
    member `c % n` in round `c // n`; `cursor` is the next slot not yet handed out."""

    kind: Literal["options", "media"]
    interval: float
    members: tuple[int, ...]
    offsets: tuple[float, ...]
    cursor: int = 0

    def at(self, slot: int) -> float:
        n = len(self.members)
        return (slot // n) * self.interval + self.offsets[slot % n]


@dataclass(frozen=True)
class Plan:
    """One trunk's probing so far: its send sequence, what is in flight, its confirmation clock."""

    seq: int = 0
    in_flight: frozenset[int] = frozenset()
    next_confirm: float = 0.0
    suspect_since: float | None = None
    correlated_by: str | None = None  # the trunk whose suspicion sent this one a probe, and when
    correlated_at: float | None = None


@dataclass(frozen=True)
class Schedule:
    plans: Row[Plan]  # in the specs' trunk order
    wheels: tuple[Wheel, ...]
    confirming: frozenset[int] = frozenset()  # indexes of the SUSPECT trunks
    correlating: frozenset[int] = frozenset()  # UP trunks owed one correlated probe at the next Tick
    budget: tuple[tuple[str, int, int, float], ...] = ()  # (carrier, interval number, probes sent in it, last at)
    confirm_at: float = math.inf  # no confirmation is due before this (exact after `due`, lowered by events)
    media_retests: tuple[tuple[int, float], ...] = ()  # (trunk index, when) test calls to repeat soon

    def __repr__(self) -> str:
        flying = sum(len(p.in_flight) for p in self.plans)
        return f"<Schedule {len(self.plans)} trunks, {flying} in flight, {len(self.confirming)} confirming>"


def spread(specs: Sequence[TrunkSpec]) -> tuple[TrunkSpec, ...]:
    """Give each trunk its offset: evenly spaced within its carrier and interval, in config order."""
    out = list(specs)
    carriers = sorted({s.carrier for s in specs})
    for kind in ("options", "media"):
        for (carrier, interval), members in _groups(specs, kind).items():
            shift = 0.5 * carriers.index(carrier) / max(1, len(carriers) - 1) if len(carriers) > 1 else 0.0
            n = len(members)
            for rank, i in enumerate(members):
                if kind == "options":
                    out[i] = evolve(out[i], offset=interval * (rank + shift) / n)
                else:  # media checks start half a slot in, away from the OPTIONS probes
                    out[i] = evolve(out[i], media_offset=interval * (rank + 0.5 + shift / 2) / n)
    return tuple(out)


def new_schedule(specs: Sequence[TrunkSpec], start: float) -> Schedule:
    wheels: list[Wheel] = []
    for kind in ("options", "media"):
        for (_, interval), members in sorted(_groups(specs, kind).items()):
            offsets = [specs[i].offset if kind == "options" else specs[i].media_offset for i in members]
            order = sorted(range(len(members)), key=lambda k: offsets[k])
            wheel = Wheel(kind, interval, tuple(members[k] for k in order),
                          tuple(offsets[k] for k in order))
            wheels.append(evolve(wheel, cursor=_first_slot(wheel, start)))
    return Schedule(Row(Plan() for _ in specs), tuple(wheels))


def _groups(specs: Sequence[TrunkSpec], kind: str) -> dict[tuple[str, float], list[int]]:
    """The trunks (indexes, in config order) sharing a carrier and an interval of this kind."""
    groups: dict[tuple[str, float], list[int]] = {}
    for i, s in enumerate(specs):
        interval = s.interval if kind == "options" else s.media_interval
        if interval:
            groups.setdefault((s.carrier, interval), []).append(i)
    return groups


def _first_slot(wheel: Wheel, start: float) -> int:
    slot = math.floor(start / wheel.interval) * len(wheel.members)
    while wheel.at(slot) < start:
        slot += 1
    return slot


def due(schedule: Schedule, specs: Sequence[TrunkSpec], health: Sequence[TrunkHealth],
        now: float) -> tuple[Schedule, tuple[ProbeTask, ...]]:
    """The probes due at `now`, and the schedule with them handed out."""
    tasks: list[ProbeTask] = []
    plans: dict[int, Plan] = {}  # the plans that change, laid over the schedule's at the end
    wheels = list(schedule.wheels)
    for w, wheel in enumerate(wheels):
        slot = wheel.cursor
        n = len(wheel.members)
        behind = now - wheel.at(slot)
        if behind >= wheel.interval:  # stalled for more than a round: skip the missed rounds
            slot += n * int(behind // wheel.interval)
        while wheel.at(slot) <= now:
            i = wheel.members[slot % n]
            if wheel.kind == "media":
                tasks.append(ProbeTask(specs[i].name, -1, "media", specs[i].timeout))
            else:
                plans[i], task = _send(plans.get(i, schedule.plans[i]), specs[i], "options")
                tasks.append(task)
            slot += 1
        if slot != wheel.cursor:
            wheels[w] = evolve(wheel, cursor=slot)
    if schedule.media_retests and any(at <= now for _, at in schedule.media_retests):
        tasks.extend(ProbeTask(specs[i].name, -1, "media", specs[i].timeout)
                     for i, at in schedule.media_retests if at <= now)
        schedule = evolve(schedule, media_retests=tuple((i, at) for i, at in schedule.media_retests if at > now))
    for i in sorted(schedule.correlating):
        if health[i].state is _UP:
            plans[i], task = _send(plans.get(i, schedule.plans[i]), specs[i], "correlate")
            tasks.append(task)
    confirm_at = schedule.confirm_at
    if schedule.confirming and now >= confirm_at:  # else no SUSPECT trunk needs a probe yet: skip them all
        confirm_at = math.inf
        for i in sorted(schedule.confirming):
            h, spec, plan = health[i], specs[i], plans.get(i, schedule.plans[i])
            if h.state is not _SUSPECT:
                continue
            if plan.suspect_since != h.since:  # a new suspicion: confirm at once
                plan = evolve(plan, suspect_since=h.since, next_confirm=now)
            needed = _needed(spec.rules, h)
            while now >= plan.next_confirm and len(plan.in_flight) < needed:
                plan, task = _send(plan, spec, "confirm")
                tasks.append(task)
                plan = evolve(plan, next_confirm=max(plan.next_confirm + spec.confirm_interval, now))
                if plan.next_confirm > now:
                    break
            if len(plan.in_flight) < needed:  # more to send later; else only a finished probe frees room
                confirm_at = min(confirm_at, plan.next_confirm)
            if plan is not schedule.plans[i]:
                plans[i] = plan
    moved = any(w is not old for w, old in zip(wheels, schedule.wheels, strict=True))
    if schedule.correlating or confirm_at != schedule.confirm_at:
        schedule = evolve(schedule, correlating=frozenset(), confirm_at=confirm_at)
    if not plans and not moved:
        return schedule, tuple(tasks)
    merged = schedule.plans.update(plans) if plans else schedule.plans
    return evolve(schedule, plans=merged, wheels=tuple(wheels) if moved else schedule.wheels), tuple(tasks)


def next_due(schedule: Schedule, specs: Sequence[TrunkSpec], health: Sequence[TrunkHealth]) -> float:
    times = [w.at(w.cursor) for w in schedule.wheels]
    if schedule.correlating:
        times.append(0.0)
    if schedule.confirming:
        times.append(schedule.confirm_at)
    times.extend(at for _, at in schedule.media_retests)
    return min(times) if times else math.inf


def retest_media(schedule: Schedule, index: int, at: float) -> Schedule:
    """Repeat this trunk's test call at `at` (a failure or a recovery to confirm)."""
    kept = tuple((i, t) for i, t in schedule.media_retests if i != index)
    return evolve(schedule, media_retests=(*kept, (index, at)))


def finished(schedule: Schedule, index: int, seq: int) -> Schedule:
    """A probe's result is in: it no longer counts as in flight."""
    plan = schedule.plans[index]
    if seq not in plan.in_flight:
        return schedule
    schedule = _with_plan(schedule, index, evolve(plan, in_flight=plan.in_flight - {seq}))
    if index in schedule.confirming and plan.next_confirm < schedule.confirm_at:  # room for one more now
        schedule = evolve(schedule, confirm_at=plan.next_confirm)
    return schedule


def suspicion(schedule: Schedule, index: int, suspect: bool) -> Schedule:
    """Track which trunks are SUSPECT, so only they are looked at for confirmations."""
    if suspect == (index in schedule.confirming):
        return schedule
    if suspect:  # confirm at once
        return evolve(schedule, confirming=schedule.confirming | {index}, confirm_at=-math.inf)
    plan = evolve(schedule.plans[index], suspect_since=None)
    return evolve(_with_plan(schedule, index, plan), confirming=schedule.confirming - {index})


def correlate(schedule: Schedule, specs: Sequence[TrunkSpec], health: Sequence[TrunkHealth], index: int,
              now: float) -> Schedule:
    """Trunk `index` turned SUSPECT: each UP trunk of its carrier with nothing in flight gets one probe
    at the next Tick, within the carrier's budget for this interval."""
    spec = specs[index]
    if not spec.correlate:
        return schedule
    window = int(now // spec.interval)
    budget = {carrier: (w, used, last) for carrier, w, used, last in schedule.budget}
    w, used, last = budget.get(spec.carrier, (window, 0, -math.inf))
    if now - last < spec.timeout:  # a correlation of this carrier is still being answered: this
        return schedule            # suspicion is most likely its result, not news
    used = used if w == window else 0
    picked: list[int] = []
    for j, other in enumerate(specs):
        if used >= spec.correlate_max:
            break
        if j == index or other.carrier != spec.carrier or health[j].state is not TrunkState.UP \
                or j in schedule.correlating or schedule.plans[j].in_flight:
            continue
        picked.append(j)
        used += 1
    if not picked:
        return schedule
    plans = schedule.plans.update({j: evolve(schedule.plans[j], correlated_by=spec.name, correlated_at=now)
                                   for j in picked})
    budget[spec.carrier] = (window, used, now)
    return evolve(schedule, plans=plans, correlating=schedule.correlating | frozenset(picked),
                  budget=tuple((c, w, u, t) for c, (w, u, t) in sorted(budget.items())))


def cross_check(schedule: Schedule, specs: Sequence[TrunkSpec], health: Sequence[TrunkHealth], index: int,
                now: float, per_carrier: int = 2) -> Schedule:
    """Trunk `index` turned SUSPECT and several vantages judge together: probe up to `per_carrier` UP
    trunks of every other carrier at the next Tick, so a host losing its own network doubts them too
    before this one can be confirmed down (core/vantage.py counts no vote from such a host)."""
    carrier = specs[index].carrier
    taken: dict[str, int] = {}
    picked: list[int] = []
    for j, other in enumerate(specs):
        if other.carrier == carrier or taken.get(other.carrier, 0) >= per_carrier or health[j].state is not _UP \
                or j in schedule.correlating or schedule.plans[j].in_flight:
            continue
        picked.append(j)
        taken[other.carrier] = taken.get(other.carrier, 0) + 1
    if not picked:
        return schedule
    plans = schedule.plans.update({j: evolve(schedule.plans[j], correlated_by=specs[index].name, correlated_at=now)
                                   for j in picked})
    return evolve(schedule, plans=plans, correlating=schedule.correlating | frozenset(picked))


def correlated(schedule: Schedule, index: int) -> tuple[str, float] | None:
    """Who started this trunk's confirmation, and when (None: its own probe did)."""
    plan = schedule.plans[index]
    return None if plan.correlated_by is None or plan.correlated_at is None else \
        (plan.correlated_by, plan.correlated_at)


def uncorrelate(schedule: Schedule, index: int) -> Schedule:
    plan = schedule.plans[index]
    if plan.correlated_by is None:
        return schedule
    return _with_plan(schedule, index, evolve(plan, correlated_by=None, correlated_at=None))


_SUSPECT, _UP = TrunkState.SUSPECT, TrunkState.UP  # plain names: an enum member lookup costs on the hot path


def _needed(rules: HealthRules, h: TrunkHealth) -> int:
    return max(0, rules.failures_to_down - len(h.failed))


def _send(plan: Plan, spec: TrunkSpec, kind: ProbeKind) -> tuple[Plan, ProbeTask]:
    seq = plan.seq + 1
    return evolve(plan, seq=seq, in_flight=plan.in_flight | {seq}), ProbeTask(spec.name, seq, kind, spec.timeout)


def _with_plan(schedule: Schedule, index: int, plan: Plan) -> Schedule:
    return evolve(schedule, plans=schedule.plans.set(index, plan))
