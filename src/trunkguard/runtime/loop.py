"""The loop: feed each event to the machine, hand each effect to the part that owns it, publish the
status snapshot. The machine alone folds events, so this loop and the simulator cannot disagree.
Events come from the parts (probe results, T1 marks, polls, swap results, lease changes, the other
vantages' views) and from people (`submit`); time passing is a Tick at the machine's next wake-up.
A person's action is stored before the step that folds it in is kept (a store that refuses it
refuses the action). Every event that changed anything goes to the trace (`trunkguard replay`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, assert_never

from trunkguard.core import events as ev
from trunkguard.core.events import Event
from trunkguard.core.failover import Notify, OperatorAction
from trunkguard.core.machine import MachineRules, MachineState, Step, next_wake, step
from trunkguard.logs import about, fields, log_said
from trunkguard.runtime.parts import Parts
from trunkguard.runtime.status import StatusView, evidence, publish
from trunkguard.runtime.takeover import take_over
from trunkguard.runtime.waker import Waker
from trunkguard.store import StoreError

log = logging.getLogger("trunkguard")
Observer = Callable[[str, dict[str, Any]], None]
# Ticks closer together than this are taken together: at 1,000 trunks per carrier probes are 7.5 ms
# apart and each wake-up costs a few hundred µs of CPU, so one Tick per 100 ms hands out a dozen at
# once; none is skipped, a regular probe leaves at most this late, and events are never held back.
WAKE_QUANTUM = 0.1
DRAIN_SLICE = 0.02  # seconds of folding before the loop yields to I/O (a burst of thousands of timeouts)
STATUS_MAX_AGE = 0.5  # seconds: the lease's expiry moves with the clock, so an idle status is rebuilt


@dataclass
class _Request:  # a person's action and where its sentences go
    action: OperatorAction
    reply: asyncio.Future[list[str]]


class Runtime:
    def __init__(self, rules: MachineRules, state: MachineState, groups: dict[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        self.rules, self.groups, self.clock, self._state = rules, groups, clock, state
        self.max_sleep = float("inf")  # the loop turns at least this often (a watchdog's WATCHDOG=1 comes from it)
        self._parts: Parts | None = None
        self._queue: collections.deque[Event | _Request] = collections.deque()
        self._waker = Waker()
        self._observers: list[Observer] = []
        self._decisions = self._cycles = 0
        self._status: StatusView | None = None
        self._published: MachineState | None = None  # the state the view was made from
        self._background: set[asyncio.Task[None]] = set()

    def reconfigure(self, rules: MachineRules) -> None:  # a config reload: the same trunks, new policy numbers
        self.rules, self._status = rules, None  # the published view is rebuilt with them at its next read

    def attach(self, parts: Parts) -> None:
        self._parts = parts
        self._publish()

    # ---- the face others see -----------------------------------------------------------------

    def post(self, event: Event) -> None:
        self._queue.append(event)
        self._waker.wake()

    def subscribe(self, observer: Observer) -> None:
        """`observer(kind, data)` for: probe, sentence, notify, swap_started, swap_done, cycle."""
        self._observers.append(observer)

    @property
    def state(self) -> MachineState:
        """The machine's state, for the runtime's own parts (this process's vantage view); readers use `status()`."""
        return self._state

    def status(self) -> StatusView:
        """The view as of the end of the last cycle (built when first asked for after it)."""
        status = self._status
        if status is None or self._published is not self._state or self.clock() - status.at > STATUS_MAX_AGE:
            self._publish()
            status = self._status
        assert status is not None, "attach the parts first"
        return status

    async def submit(self, action: OperatorAction, timeout: float = 30.0) -> list[str]:
        """A person's action, carried out by the loop; returns the sentences it produced."""
        reply: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(action, reply))
        self._waker.wake()
        return await asyncio.wait_for(reply, timeout)

    def observe(self, kind: str, data: dict[str, Any]) -> None:
        for observer in self._observers:
            observer(kind, {**data, "at": self.clock()})

    # ---- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        parts = self._parts
        assert parts is not None
        tasks = [asyncio.create_task(work, name=name) for work, name in (
            (parts.lease.keep(stop, lambda term: self._acquired(term, stop),
                              lambda why: self.post(ev.LeaseChanged(False, detail=why)), parts.alerts.notify), "lease"),
            (parts.recorder.run(stop), "recorder"), (parts.vantages.run(stop, self.post), "vantages"),
            (self._waker.wake_on(stop), "stop watcher"))]
        try:
            while not stop.is_set():
                wait = next_wake(self._state, self.rules) - self.clock()
                if wait > 0 and not self._queue:
                    await self._waker.sleep(min(max(wait, WAKE_QUANTUM), self.max_sleep))
                elif self._queue:
                    await asyncio.sleep(0)  # a slice was cut short: read the sockets first
                began = time.perf_counter()
                if self.clock() >= next_wake(self._state, self.rules):
                    self.feed(ev.Tick())
                while self._queue:
                    item = self._queue.popleft()
                    if isinstance(item, _Request):
                        await self._operator(item)
                    else:
                        self.feed(item)
                    if time.perf_counter() - began > DRAIN_SLICE:
                        break  # read the sockets before folding more: an answer left unread looks late
                self._cycles += 1
                self.observe("cycle", {"seconds": time.perf_counter() - began})
        finally:
            actuators = parts.actuators().values()
            for actuator in actuators:
                actuator.stopping = True
            await asyncio.gather(*(actuator.finish(5.0) for actuator in actuators))
            while self._queue:  # fold in what the last swap and probes said
                item = self._queue.popleft()
                if not isinstance(item, _Request):
                    self.feed(item)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await parts.close()
            self._publish()
            log.info("stopped", extra=fields("stopped"))

    def feed(self, event: Event) -> Step:
        """One event through the machine, at the clock's now; its effects carried out."""
        parts = self._parts
        assert parts is not None
        now = self.clock()
        result = step(self._state, event, now, self.rules)
        self._keep(now, event, result)
        for effect in result.effects:
            if isinstance(effect, ev.RecordAction):  # folded in outside `submit` (a replayed trace)
                task = asyncio.get_running_loop().create_task(self._record_action(effect))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        return result

    def _keep(self, now: float, event: Event, result: Step) -> None:
        parts = self._parts
        assert parts is not None
        changed = result.state is not self._state
        self._state = result.state
        if changed or result.effects:
            parts.recorder.trace(now, event)
        if isinstance(event, ev.ProbeDone | ev.MediaDone):
            parts.probes.note(event, now)
            rtt = event.rtt_ms if isinstance(event, ev.ProbeDone) else None
            self.observe("probe", {"trunk": event.trunk, "kind": "options" if isinstance(event, ev.ProbeDone) else
                                   "media", "ok": event.ok, "outcome": event.outcome, "rtt_ms": rtt})
            if isinstance(event, ev.MediaDone) and event.trunk in self.rules.index:
                carrier = self.rules.trunks[self.rules.index[event.trunk]].carrier
                parts.recorder.media(now, carrier, event.trunk, event.ok, event.detail)
        extra = about(event, self.rules)  # the trunk and carrier the sentences are about, for the logs
        for said in result.said:
            log_said(log, said, extra)
            self.observe("sentence", {"sentence": said.sentence})
        for effect in result.effects:
            self._carry_out(effect, now, extra)
        if isinstance(event, ev.SwapSettled):
            settles = parts.actuators().get(event.group)
            if settles is not None:
                settles.settled(event.key)  # its outcome is stored with the decision just recorded

    def _carry_out(self, effect: ev.Effect, now: float, extra: dict[str, Any]) -> None:
        """Each effect to the part that owns it; a new kind of effect is a mypy error here until handled."""
        parts = self._parts
        assert parts is not None
        match effect:
            case ev.SendProbe():
                parts.probes.launch(effect.task)
            case ev.Poll():
                if parts.pollers is not None:
                    parts.pollers.poll()
            case ev.Record():
                self._decisions += 1
                parts.recorder.decision(now, effect.kind, effect.sentence, effect.snapshot,
                                        evidence(self._state, self.rules, parts.probes.samples_of, effect.trunk, now,
                                                 effect.group), group=effect.group)
            case ev.SavePair():
                parts.recorder.snapshot(now, effect.snapshot, effect.group)
            case ev.StartSwap():
                actuator = parts.actuators().get(effect.group)
                assert actuator is not None, "a process without a platform never holds the lease"
                self._decisions += 1
                actuator.start(effect, evidence(self._state, self.rules, parts.probes.samples_of, now=now,
                                                group=effect.group))
            case Notify():
                parts.alerts.notify(effect)
            case ev.Log():
                log_said(log, effect.said, extra)
            case ev.RecordAction():
                pass  # stored before the step is kept (`_operator`), or by `feed` for a replayed trace
            case _:
                assert_never(effect)

    async def _operator(self, request: _Request) -> None:
        parts = self._parts
        assert parts is not None
        now = self.clock()
        event = ev.OperatorDid(replace(request.action, at=now))
        result = step(self._state, event, now, self.rules)
        for effect in result.effects:
            if isinstance(effect, ev.RecordAction):
                try:
                    await self._record_action(effect, raise_=True)
                except StoreError as exc:
                    if not request.reply.done():
                        request.reply.set_result([f"{event.action.kind} refused: {exc}"])
                    return
        self._keep(now, event, result)
        if not request.reply.done():
            request.reply.set_result(list(result.sentences))

    async def _record_action(self, effect: ev.RecordAction, *, raise_: bool = False) -> None:
        parts = self._parts
        assert parts is not None
        try:
            await parts.link.call(parts.link.store.record_action, parts.lease.current().term or 0, effect.action,
                                  effect.result, group=effect.action.group,
                                  doing=f"recording {effect.action.kind} by {effect.action.who}")
        except StoreError:
            if raise_:
                raise

    async def _acquired(self, term: int, stop: asyncio.Event) -> None:
        assert self._parts is not None
        await take_over(self._parts, self.rules, term, stop, self.post)

    def _publish(self) -> None:
        parts = self._parts
        assert parts is not None
        now = self.clock()
        facts = parts.facts(now, self._state.leader, self._decisions, self._cycles)
        self._status = publish(self._state, self.rules, self.groups, facts, parts.probes.samples(), now, self._status)
        self._published = self._state
