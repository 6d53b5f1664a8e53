"""Replays a scenario through the real ProbeScheduler and decision core on a virtual clock.

The world answers each probe from the trunk's condition at send time, with a seeded random
generator (so a run is repeatable): a healthy answer after `rtt`, silence until the probe's
timeout (with the overdue signal at T1), a final code, or a late answer. Swaps are committed
`platform_latency` after the decision (a platform API write plus read-back). The simulated
secondary passes its DID sweep, certificate and parity checks.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trunkguard.codes import CodeSet
from trunkguard.config import Config
from trunkguard.core.failover import (
    Decision,
    Notify,
    Observation,
    OperatorAction,
    PairSnapshot,
    PolicyRules,
    Readiness,
    Swap,
    decide,
    operator,
    swap_finished,
)
from trunkguard.core.health import (
    TrunkHealth,
    TrunkState,
    media_result,
    probe_overdue,
    probe_result,
    routine_change,
)
from trunkguard.core.scheduler import ProbeScheduler, ProbeTask, TrunkSchedule
from trunkguard.sim.scenario import Condition, Event, Scenario
from trunkguard.sip.client import T1

UP = Condition(kind="up")


@dataclass
class SimResult:
    duration_s: float
    seed: int
    probes_sent: int
    swaps: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    final_active: str = "primary"
    timeline: list[tuple[float, str]] = field(default_factory=list)
    cleared_suspicions: int = 0  # SUSPECT -> UP episodes, left out of the timeline unless verbose
    trunk_downs: int = 0
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"duration_s": self.duration_s, "seed": self.seed, "probes_sent": self.probes_sent,
                "swaps": self.swaps, "notifications": self.notifications, "final_active": self.final_active}


class Simulation:
    def __init__(self, config: Config, scenario: Scenario, seed: int, *, rtt: float = 0.02,
                 platform_latency: float = 0.3, record_timeline: bool = True, verbose: bool = False) -> None:
        self.verbose = verbose
        self.rules = PolicyRules.from_config(config.policy)
        schedules = TrunkSchedule.from_config(config)
        self.specs = {s.name: s for s in schedules}
        self.alive: dict[str, CodeSet] = {t.name: t.alive_codes for _, _, t in config.all_trunks()}
        self.media_timing = {t.name: (c.media.duration, c.media.rtp_timeout) for _, c, t in config.all_trunks()}
        self.health = {s.name: TrunkHealth(s.name, s.carrier) for s in schedules}
        self.scheduler = ProbeScheduler(schedules, start=0.0)
        self.pair = PairSnapshot()
        self.conditions: dict[str, Condition] = dict.fromkeys(self.specs, UP)
        self.calls = 0
        self.readiness = Readiness(sweep_ok=True, certs_ok=True, parity_ok=True)
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.rtt = rtt
        self.platform_latency = platform_latency
        self.record_timeline = record_timeline
        self.result = SimResult(duration_s=scenario.duration, seed=seed, probes_sent=0)
        self._queue: list[tuple[float, int, Callable[[float], None]]] = []
        self._order = itertools.count()

    # ---- the event loop -------------------------------------------------------------------

    def run(self) -> SimResult:
        started = time.perf_counter()
        for event in self.scenario.events:
            self._at(event.at, lambda now, e=event: self._world(now, e))  # type: ignore[misc]
        self._at(0.0, self._tick)
        end = self.scenario.duration
        now = 0.0
        while True:
            next_probe = max(self.scheduler.next_due(self.health), now)
            next_event = self._queue[0][0] if self._queue else float("inf")
            if min(next_probe, next_event) > end:
                break
            if next_probe <= next_event:
                now = next_probe
                for task in self.scheduler.due(now, self.health):
                    self._launch(task, now)
            else:
                now, _, handler = heapq.heappop(self._queue)
                handler(now)
        self.result.final_active = self.pair.active.value
        self.result.wall_s = time.perf_counter() - started
        return self.result

    def _at(self, when: float, handler: Callable[[float], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._order), handler))

    # ---- the simulated world ----------------------------------------------------------------

    def _launch(self, task: ProbeTask, now: float) -> None:
        self.result.probes_sent += 1
        cond = self.conditions[task.trunk]
        if task.kind == "media":
            duration, rtp_timeout = self.media_timing[task.trunk]
            dead = cond.kind in ("down", "media_down") or (cond.kind == "loss" and self.rng.random() < cond.value)
            wait = rtp_timeout if dead else duration
            self._at(now + wait, lambda t: self._media(t, task.trunk, not dead))
            return
        answer: tuple[float, int] | None  # (delay, code) or None for silence
        if cond.kind == "down" or (cond.kind == "loss" and self.rng.random() < cond.value):
            answer = None
        elif cond.kind == "code":
            answer = (self.rtt, int(cond.value))
        elif cond.kind == "latency":
            answer = (cond.value / 1000, 200)
        else:
            answer = (self.rtt, 200)
        if answer is None or answer[0] >= task.timeout:
            if task.timeout > T1:
                self._at(now + T1, lambda t: self._overdue(t, task))
            self._at(now + task.timeout, lambda t: self._result(t, task, False, None, "no answer"))
            return
        delay, code = answer
        if delay > T1:
            self._at(now + T1, lambda t: self._overdue(t, task))
        ok = code in self.alive[task.trunk]
        self._at(now + delay, lambda t: self._result(t, task, ok, code, f"answered {code}"))

    def _result(self, now: float, task: ProbeTask, ok: bool, code: int | None, detail: str) -> None:
        self.scheduler.finished(task.trunk, task.seq)
        h, sentence = probe_result(self.health[task.trunk], task.seq, ok, now, self.specs[task.trunk].rules,
                                   code=code, detail=detail)
        self._trunk_changed(now, h, sentence)

    def _overdue(self, now: float, task: ProbeTask) -> None:
        h, sentence = probe_overdue(self.health[task.trunk], task.seq, now)
        self._trunk_changed(now, h, sentence)

    def _media(self, now: float, trunk: str, ok: bool) -> None:
        h, sentence = media_result(self.health[trunk], ok, now, "" if ok else "no RTP back")
        self._trunk_changed(now, h, sentence)

    def _trunk_changed(self, now: float, h: TrunkHealth, sentence: str | None) -> None:
        before = self.health[h.name].state
        self.health[h.name] = h
        if sentence is not None:
            routine = routine_change(before, h.state)
            if before is TrunkState.SUSPECT and h.state is TrunkState.UP:
                self.result.cleared_suspicions += 1
            if h.state is TrunkState.DOWN and before is not TrunkState.DOWN:
                self.result.trunk_downs += 1
            if self.verbose or not routine:
                self._say(now, sentence)
            self._apply(now, decide(self.pair, self._observation(), now, self.rules))

    def _tick(self, now: float) -> None:
        self._apply(now, decide(self.pair, self._observation(), now, self.rules))
        self._at(now + self.rules.poll_interval, self._tick)

    def _world(self, now: float, event: Event) -> None:
        if event.trunk is not None and event.condition is not None:
            self.conditions[event.trunk] = event.condition
            self._say(now, f"world: trunk {event.trunk} now {event.condition.describe()}")
        elif event.active_calls is not None:
            self.calls = event.active_calls
            self._say(now, f"world: the platform reports {event.active_calls} active calls")
        elif event.operator is not None:
            action = OperatorAction(event.operator, event.who, event.reason, now)
            self._apply(now, operator(self.pair, action, now))
            self._apply(now, decide(self.pair, self._observation(), now, self.rules))

    def _observation(self) -> Observation:
        return Observation(tuple(self.health.values()), self.calls, self.readiness)

    # ---- carrying out intents ------------------------------------------------------------------

    def _apply(self, now: float, decision: Decision) -> None:
        changed = decision.snapshot.state is not self.pair.state or decision.intents
        self.pair = decision.snapshot
        if changed:
            self._say(now, decision.sentence)
        for intent in decision.intents:
            if isinstance(intent, Notify):
                self.result.notifications.append({"at_s": round(now, 3), "kind": intent.kind})
            elif isinstance(intent, Swap):
                self._at(now + self.platform_latency, lambda t, s=intent: self._committed(t, s))  # type: ignore[misc]

    def _committed(self, now: float, swap: Swap) -> None:
        if self.pair.in_flight != swap:
            return
        self.result.swaps.append({"at_s": round(now, 3), "to": swap.to.value, "trigger": swap.trigger})
        self._apply(now, swap_finished(self.pair, True, now))
        self._apply(now, decide(self.pair, self._observation(), now, self.rules))

    def _say(self, now: float, sentence: str) -> None:
        if self.record_timeline:
            self.result.timeline.append((now, sentence))


def simulate(config: Config, scenario: Scenario, seed: int | None = None, **options: Any) -> SimResult:
    chosen = seed if seed is not None else (scenario.seed if scenario.seed is not None else 1)
    return Simulation(config, scenario, chosen, **options).run()
