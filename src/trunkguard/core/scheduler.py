"""When each trunk is probed. Driven only by the `now` it is given, so the daemon (loop time) and
the simulation (virtual time) run the same schedule.

- Regular OPTIONS probes every `interval`, start to start.
- While a trunk is SUSPECT: confirmation probes every `confirm_interval`, several in flight,
  never more outstanding than the failures still needed to confirm it down.
- Media checks (INVITE with RTP) every `media_interval` when enabled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from trunkguard.config import Config
from trunkguard.core.health import HealthRules, TrunkHealth, TrunkState

ProbeKind = Literal["options", "confirm", "media"]


@dataclass(frozen=True)
class TrunkSchedule:
    name: str
    carrier: str
    interval: float
    timeout: float
    confirm_interval: float
    rules: HealthRules
    media_interval: float | None = None

    @classmethod
    def from_config(cls, config: Config) -> list[TrunkSchedule]:
        out: list[TrunkSchedule] = []
        for role, carrier, trunk in config.all_trunks():
            h = carrier.health_of(trunk)
            out.append(cls(trunk.name, role, h.interval, h.timeout, h.confirm_interval,
                           HealthRules(h.down_after, h.up_after, h.confirm_burst),
                           carrier.media.interval if carrier.media.enabled else None))
        return out


@dataclass(frozen=True)
class ProbeTask:
    trunk: str
    seq: int
    kind: ProbeKind
    timeout: float


@dataclass
class _Plan:
    spec: TrunkSchedule
    next_regular: float
    next_media: float | None
    next_confirm: float = 0.0
    suspect_since: float | None = None
    seq: int = 0
    in_flight: set[int] = field(default_factory=set)


class ProbeScheduler:
    """Hands out the probes that are due. Call `due(now, health)`, then `finished(trunk, seq)` when
    a probe's result is in; `next_due(health)` says when to call again."""

    def __init__(self, trunks: list[TrunkSchedule], start: float) -> None:
        self._plans = {t.name: _Plan(t, start, start + (t.media_interval or 0) / 2 if t.media_interval else None)
                       for t in trunks}

    def due(self, now: float, health: Mapping[str, TrunkHealth]) -> list[ProbeTask]:
        tasks: list[ProbeTask] = []
        for name, plan in self._plans.items():
            spec = plan.spec
            h = health[name]
            if now >= plan.next_regular:
                tasks.append(self._task(plan, "options"))
                plan.next_regular = max(plan.next_regular + spec.interval, now + spec.timeout)
            if h.state is TrunkState.SUSPECT:
                if plan.suspect_since != h.since:  # a new suspicion: confirm at once
                    plan.suspect_since = h.since
                    plan.next_confirm = now
                while now >= plan.next_confirm and len(plan.in_flight) < self._needed(plan, h):
                    tasks.append(self._task(plan, "confirm"))
                    plan.next_confirm = max(plan.next_confirm + spec.confirm_interval, now)
                    if plan.next_confirm > now:
                        break
            else:
                plan.suspect_since = None
            if plan.next_media is not None and spec.media_interval and now >= plan.next_media:
                tasks.append(ProbeTask(name, -1, "media", spec.timeout))
                plan.next_media = now + spec.media_interval
        return tasks

    def finished(self, trunk: str, seq: int) -> None:
        self._plans[trunk].in_flight.discard(seq)

    def next_due(self, health: Mapping[str, TrunkHealth]) -> float:
        times: list[float] = []
        for name, plan in self._plans.items():
            times.append(plan.next_regular)
            if plan.next_media is not None:
                times.append(plan.next_media)
            h = health[name]
            if h.state is TrunkState.SUSPECT and len(plan.in_flight) < self._needed(plan, h):
                times.append(plan.next_confirm if plan.suspect_since == h.since else 0.0)
        return min(times)

    @staticmethod
    def _needed(plan: _Plan, h: TrunkHealth) -> int:
        return max(0, plan.spec.rules.failures_to_down - len(h.failed))

    @staticmethod
    def _task(plan: _Plan, kind: ProbeKind) -> ProbeTask:
        plan.seq += 1
        plan.in_flight.add(plan.seq)
        return ProbeTask(plan.spec.name, plan.seq, kind, plan.spec.timeout)
