"""Runs a scenario through the one machine (`core/machine.py`) on a virtual clock: the same fold,
scheduler and policy `trunkguard run` drives, with a simulated world instead of sockets.

The world answers each probe from the trunk's condition at send time, with a seeded random
generator (so a run is repeatable): a healthy answer after `rtt`, silence until the probe's
timeout (with the overdue signal at T1), a final code, or a late answer. A poll reads the world's
call count at once. Swaps are committed `platform_latency` after the decision (a platform API write
plus read-back). The simulated secondary passes its DID sweep, certificate and parity checks.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trunkguard.codes import CodeSet
from trunkguard.core.failover import Notify, OperatorAction, Readiness, Swap
from trunkguard.core.health import TrunkState
from trunkguard.core.machine import (
    CallsRead,
    Event,
    Log,
    MachineRules,
    MachineState,
    MediaDone,
    OperatorDid,
    Poll,
    ProbeDone,
    ProbeLate,
    SendProbe,
    StartSwap,
    Step,
    SwapSettled,
    Tick,
    initial,
    next_wake,
    step,
)
from trunkguard.core.scheduler import ProbeTask
from trunkguard.sim.scenario import Condition, Scenario
from trunkguard.sim.scenario import Event as WorldEvent
from trunkguard.sip.client import T1

UP = Condition(kind="up")
READY = Readiness(sweep_ok=True, certs_ok=True, parity_ok=True)


@dataclass(frozen=True)
class SimTrunk:
    """What the simulated world needs of a trunk beyond the machine's rules (built by rules.sim_world)."""

    alive: CodeSet
    media_duration: float
    rtp_timeout: float
    max_loss: float  # 0..1


@dataclass(frozen=True)
class SimWorld:
    rules: MachineRules
    trunks: Mapping[str, SimTrunk]


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
    def __init__(self, world: SimWorld, scenario: Scenario, seed: int, *, rtt: float = 0.02,
                 platform_latency: float = 0.3, record_timeline: bool = True, verbose: bool = False,
                 rules: MachineRules | None = None, origin: float = 0.0, leader: bool = True,
                 readiness: Readiness = READY) -> None:
        self.rules = rules or world.rules
        self.origin = origin  # the virtual clock's start: 0 for a scenario, the trace's first moment for a replay
        self.state: MachineState = initial(self.rules, origin, leader=leader, readiness=readiness)
        self.alive: dict[str, CodeSet] = {name: t.alive for name, t in world.trunks.items()}
        self.media_timing = {name: (t.media_duration, t.rtp_timeout) for name, t in world.trunks.items()}
        self.max_loss = {name: t.max_loss for name, t in world.trunks.items()}
        self.conditions: dict[str, Condition] = dict.fromkeys(self.rules.index, UP)
        self.calls = 0
        self.group_calls: dict[str, int | None] = {}  # with routing groups: each group's, once a trace says it
        self.scenario = scenario
        self.rng = random.Random(seed)
        self.rtt = rtt
        self.platform_latency = platform_latency
        self.record_timeline = record_timeline
        self.verbose = verbose
        self.result = SimResult(duration_s=scenario.duration, seed=seed, probes_sent=0)
        self.steps: list[tuple[float, Event, tuple[str, ...]]] = []  # what was fed and said, for comparisons
        self._swaps: dict[str, Swap] = {}
        self._queue: list[tuple[float, int, Event | Callable[[float], None]]] = []
        self._order = itertools.count()

    # ---- the event loop -------------------------------------------------------------------

    def run(self) -> SimResult:
        started = time.perf_counter()
        for event in self.scenario.events:
            self._at(self.origin + event.at, lambda now, e=event: self._world(now, e))  # type: ignore[misc]
        end = self.origin + self.scenario.duration
        now = self.origin
        while True:
            wake = max(next_wake(self.state, self.rules), now)
            queued = self._queue[0][0] if self._queue else float("inf")
            if min(wake, queued) > end:
                break
            if wake <= queued:
                now = wake
                self.feed(now, Tick())
            else:
                now, _, item = heapq.heappop(self._queue)
                if callable(item):
                    item(now)
                else:
                    self.feed(now, item)
        self.result.final_active = self.state.pair.active
        self.result.wall_s = time.perf_counter() - started
        return self.result

    def feed(self, now: float, event: Event) -> Step:
        """One event through the machine, and its effects carried out in the simulated world."""
        before = self.state
        result = step(before, event, now, self.rules)
        self.state = result.state
        self.steps.append((now, event, result.sentences))
        if isinstance(event, ProbeDone | ProbeLate | MediaDone):
            self._count(before, event.trunk)
        for sentence in result.sentences:
            self._say(now, sentence)
        for effect in result.effects:
            if isinstance(effect, SendProbe):
                self._launch(effect.task, now)
            elif isinstance(effect, Poll):
                if len(self.rules.groups) == 1:  # under the group's own name (`default` without groups:)
                    self._at(now, CallsRead(self.calls, group=self.rules.groups[0].name))
                else:  # each group's platform reports the calls on its own routing
                    for g in self.rules.groups:
                        self._at(now, CallsRead(self.group_calls.get(g.name, self.calls), group=g.name))
            elif isinstance(effect, StartSwap):
                self._swaps[effect.swap.key] = effect.swap
                self._settle(effect.swap, now, effect.group)
            elif isinstance(effect, Notify):
                self.result.notifications.append({"at_s": round(now - self.origin, 3), "kind": effect.kind})
            elif isinstance(effect, Log) and self.verbose:
                self._say(now, effect.sentence)
        group = before.group(event.group) if isinstance(event, SwapSettled) else None
        if isinstance(event, SwapSettled) and event.applied and group is not None and group.pair.in_flight is not None \
                and group.pair.in_flight.key == event.key:
            swap = self._swaps[event.key]
            self.result.swaps.append({"at_s": round(now - self.origin, 3), "to": swap.to, "trigger": swap.trigger,
                                      **({"group": group.name} if len(self.rules.groups) > 1 else {})})
        return result

    def _settle(self, swap: Swap, now: float, group: str) -> None:
        """The platform's answer to a swap: written and read back after `platform_latency`."""
        self._at(now + self.platform_latency, SwapSettled(swap.key, True, "simulated write", group=group))

    def _at(self, when: float, item: Event | Callable[[float], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._order), item))

    def _count(self, before: MachineState, trunk: str) -> None:
        i = self.rules.index[trunk]
        was, now = before.trunks[i].state, self.state.trunks[i].state
        if was is TrunkState.SUSPECT and now is TrunkState.UP:
            self.result.cleared_suspicions += 1
        if now is TrunkState.DOWN and was is not TrunkState.DOWN:
            self.result.trunk_downs += 1

    # ---- the simulated world ----------------------------------------------------------------

    def _launch(self, task: ProbeTask, now: float) -> None:
        self.result.probes_sent += 1
        cond = self.conditions[task.trunk]
        if task.kind == "media":
            duration, rtp_timeout = self.media_timing[task.trunk]
            # OPTIONS loss is signalling loss: the test call's INVITE and its 200 are each retransmitted
            # (Timer A, 7 sends in Timer B's 32 s), so the call fails only when all 7 of one are lost.
            # RTP takes its own path and is not lost with them (the guide's edge case 1).
            dead = cond.kind in ("down", "media_down") or (
                cond.kind == "loss" and self.rng.random() < 1 - (1 - cond.value ** 7) ** 2)
            detail = "no RTP back" if dead else ""
            if not dead and cond.kind == "rtp_loss":  # each of the call's packets (50 a second) lost on its own
                sent = max(1, int(duration * 50))
                lost = sum(self.rng.random() < cond.value for _ in range(sent))
                if lost / sent > self.max_loss[task.trunk]:
                    dead, detail = True, f"poor media: RTP loss {100 * lost / sent:g}%"
            self._at(now + (rtp_timeout if dead and not detail.startswith("poor") else duration),
                     MediaDone(task.trunk, not dead, detail))
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
                self._at(now + T1, ProbeLate(task.trunk, task.seq))
            self._at(now + task.timeout, ProbeDone(task.trunk, task.seq, False, None, "no answer"))
            return
        delay, code = answer
        if delay > T1:
            self._at(now + T1, ProbeLate(task.trunk, task.seq))
        self._at(now + delay, ProbeDone(task.trunk, task.seq, code in self.alive[task.trunk], code,
                                        f"answered {code}", round(delay * 1000, 3)))

    def _world(self, now: float, event: WorldEvent) -> None:
        if event.trunk is not None and event.condition is not None:
            self.conditions[event.trunk] = event.condition
            self._say(now, f"world: trunk {event.trunk} now {event.condition.describe()}")
        elif event.active_calls is not None:
            self.calls = event.active_calls
            self._say(now, f"world: the platform reports {event.active_calls} active calls")
        elif event.operator is not None:
            until = now + event.for_ if event.for_ is not None else None
            group = event.group or self.rules.groups[0].name
            self.feed(now, OperatorDid(OperatorAction(event.operator, event.who, event.reason, now, event.trunk,
                                                      until, to=event.to, group=group)))

    def _say(self, now: float, sentence: str) -> None:
        if self.record_timeline:
            self.result.timeline.append((now - self.origin, sentence))


def simulate(world: SimWorld, scenario: Scenario, seed: int | None = None, **options: Any) -> SimResult:
    chosen = seed if seed is not None else (scenario.seed if scenario.seed is not None else 1)
    return Simulation(world, scenario, chosen, **options).run()
