"""The engine: the loop of Patroni's shape around the pure decision core.

Each cycle: take the probes that are due (started as tasks, bounded, never awaited by the loop),
fold in what has arrived (probe results, T1 overdue marks, media checks, call counts, swap
results, operator actions), decide once, carry out at most one action, persist, log the sentence.

Safety rules (design section 4):
- The intent, the snapshot with the swap in flight and the decision are committed before the
  platform is touched; the outcome after the read-back. At start-up an intent left in flight is
  reconciled by reading the platform, never by writing again.
- Every write carries the lease term; a lost lease stops all actions. When the store or the
  platform cannot be reached, nothing is undone and a person is told.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from trunkguard.actuation.base import EdgeView, Platform, PlatformError
from trunkguard.config import Config
from trunkguard.core.failover import (
    Decision,
    Notify,
    Observation,
    OperatorAction,
    PairSnapshot,
    PolicyRules,
    Role,
    Swap,
    decide,
    operator,
    swap_finished,
)
from trunkguard.core.health import (
    TrunkHealth,
    media_result,
    probe_overdue,
    probe_result,
    routine_change,
)
from trunkguard.core.scheduler import ProbeScheduler, ProbeTask, TrunkSchedule
from trunkguard.engine import events as ev
from trunkguard.engine import views
from trunkguard.engine.actuator import carry_out, read_for_reconcile, routing_json
from trunkguard.engine.probes import Sample, TrunkProbes
from trunkguard.errors import TrunkguardError
from trunkguard.notify import Alert, Dispatcher
from trunkguard.readiness import check_certs, check_parity, check_sweep
from trunkguard.sip.client import T1
from trunkguard.state import readiness
from trunkguard.store import IntentStatus, LeaseLost, Store, StoreError

log = logging.getLogger("trunkguard")
T = TypeVar("T")
MAX_PROBES_IN_FLIGHT = 64
STORE_DEADLINE = 5.0


class Engine:
    def __init__(self, config: Config, *, store: Store, platform: Platform, dispatcher: Dispatcher,
                 clock: Callable[[], float] = time.time, holder: str | None = None) -> None:
        self.config = config
        self.store = store
        self.platform = platform
        self.dispatcher = dispatcher
        self.clock = clock
        # One holder name per host and store: a restarted daemon takes over its own lease at once with
        # a new term; a second daemon on another host waits until the lease expires.
        self.holder = holder or f"{socket.gethostname()}"
        self.rules = PolicyRules.from_config(config.policy)
        schedules = TrunkSchedule.from_config(config)
        self.specs = {s.name: s for s in schedules}
        self.health = {s.name: TrunkHealth(s.name, s.carrier, since=clock()) for s in schedules}
        self.scheduler = ProbeScheduler(schedules, start=clock())
        self.probes = TrunkProbes(config)
        self.groups = {Role.PRIMARY: config.carriers.primary.trunk_group_id,
                       Role.SECONDARY: config.carriers.secondary.trunk_group_id}
        self.dedup_key = f"trunkguard/{self.groups[Role.PRIMARY]}"
        self.pair = PairSnapshot(since=clock())
        self.term: int | None = None
        self.lease_ttl = max(30.0, 3 * self.rules.poll_interval)
        self.lease_until = 0.0
        self.calls: int | None = None
        self.calls_detail = "not read yet"
        self.edge: dict[str, bool | None] = {}  # role -> the platform edge's view, when it has one
        self.readiness = readiness(config)  # the checks' stored results, re-read every poll
        self.routing: dict[str, Any] | None = None
        self.store_ok = True
        self.last_sentence = "starting"
        self.decisions = 0
        self.swap_durations: list[float] = []
        self.on_event: list[Callable[[str, dict[str, Any]], None]] = []  # observers (metrics, the demo's timeline)
        self._events: asyncio.Queue[ev.Event] = asyncio.Queue()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._db_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store")
        self._probe_slots = asyncio.Semaphore(MAX_PROBES_IN_FLIGHT)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._swap_task: asyncio.Task[None] | None = None
        self._last_recorded: str | None = None
        gates = config.policy.readiness
        self._next_recheck = clock() if gates.recheck_interval else float("inf")
        self._next_sweep = clock() + gates.sweep_interval if gates.sweep_interval else float("inf")

    # ---- the public face (API, CLI, tests) --------------------------------------------------

    @property
    def leader(self) -> bool:
        return self.term is not None and self.clock() < self.lease_until

    async def submit(self, action: OperatorAction) -> list[str]:
        """A person's action, carried out by the loop; returns the sentences it produced."""
        reply: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._post(ev.OperatorRequest(action, reply))
        return await asyncio.wait_for(reply, 30)

    def status(self) -> dict[str, Any]:
        return views.status(self)

    # ---- start-up, the loop, shutdown --------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self.dispatcher.start()
        try:
            if not await self._take_lease(stop):
                return
            await self._restore()
            if not await self._reconcile(stop):
                return
            next_poll = self.clock()
            while not stop.is_set():
                now = self.clock()
                if now >= next_poll:
                    next_poll = now + self.rules.poll_interval
                    await self._poll(now)
                for task in self.scheduler.due(now, self.health):
                    self._launch(task)
                wake = min(self.scheduler.next_due(self.health), next_poll)
                await self._wait(stop, max(0.001, wake - self.clock()))
                await self._cycle()
        finally:
            await self._shutdown()

    def _post(self, event: ev.Event) -> None:
        self._events.put_nowait(event)
        self._wakeup.set()

    async def _wait(self, stop: asyncio.Event, timeout: float) -> None:
        """Sleep until an event arrives, `stop` is set, or `timeout` passes."""
        if not self._events.empty():
            return
        self._wakeup.clear()
        woken = asyncio.ensure_future(self._wakeup.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({woken, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in (woken, stopper):
            waiter.cancel()

    async def _shutdown(self) -> None:
        self._stopping = True
        if self._swap_task is not None and not self._swap_task.done():
            log.warning("stopping with a swap in flight: it is left to finish or to be reconciled at the next start")
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._swap_task), 5)
            await self._cycle()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.probes.close()
        await self.dispatcher.drain(3)
        await self.dispatcher.close()
        if self.term is not None:
            with contextlib.suppress(StoreError):
                await self._db(self.store.release_lease, self.holder, self.term)
        self._db_pool.shutdown(wait=False)
        log.info("stopped")

    async def _take_lease(self, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            try:
                term = await self._db(self.store.acquire_lease, self.holder, self.lease_ttl, self.clock(),
                                      restart=True)
            except StoreError as exc:
                log.error("cannot reach the store to take the lease: %s", exc)
                term = None
            if term is not None:
                self.term, self.lease_until = term, self.clock() + self.lease_ttl
                log.info("acting as leader with lease term %d", term)
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rules.poll_interval)
        return False

    async def _restore(self) -> None:
        stored = await self._db(self.store.load_snapshot)
        if stored is not None:
            self.pair = stored
            self._say(f"restored: inbound routing on the {stored.active.value} carrier ({stored.state.value})")

    async def _reconcile(self, stop: asyncio.Event) -> bool:
        """An intent left PENDING by a crash: read the platform and record what it shows. Nothing
        else happens until it is settled; False if stopped first."""
        assert self.term is not None
        pending = await self._db(self.store.intents, status=IntentStatus.PENDING)
        for intent in pending:
            alerted = False
            while True:
                try:
                    routing = await read_for_reconcile(self.platform, self._swap_deadline())
                    break
                except (PlatformError, TimeoutError) as exc:
                    if not alerted:
                        alerted = True
                        self._alert(Notify("platform_unreachable", "critical",
                                           f"cannot read the platform to reconcile swap {intent.key}: {exc}; "
                                           "no action until it answers"))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.rules.poll_interval)
                    if stop.is_set():
                        return False
            applied = routing.trunk_group_id == intent.trunk_group_id
            status = IntentStatus.RECONCILED if applied else IntentStatus.ABANDONED
            outcome = (f"found in flight at start-up; the platform shows {routing.trunk_group_id} "
                       f"(version {routing.version}): {'applied' if applied else 'not applied'}")
            now = self.clock()
            await self._db(self.store.finish_intent, self.term, intent.key, status, outcome, now,
                           routing_json(routing))
            self.routing = routing_json(routing)
            if self.pair.in_flight is not None and self.pair.in_flight.key == intent.key:
                await self._apply(swap_finished(self.pair, applied, now, outcome), now, "reconcile")
            else:
                self._say(f"reconciled swap {intent.key}: {outcome}")
        flight = self.pair.in_flight
        if flight is not None:  # its outcome was stored, but the snapshot after it was not
            found = await self._db(self.store.intents, key=flight.key)
            record = found[0] if found else None
            ok = record is not None and record.status in (IntentStatus.APPLIED, IntentStatus.RECONCILED)
            why = f"settled at start-up from the stored outcome ({record.status.value if record else 'no record'})"
            await self._apply(swap_finished(self.pair, ok, self.clock(), why), self.clock(), "reconcile")
        return True

    # ---- one cycle ---------------------------------------------------------------------------

    async def _cycle(self) -> None:
        began = time.perf_counter()
        while not self._events.empty():
            event = self._events.get_nowait()
            now = self.clock()
            if isinstance(event, ev.ProbeDone):
                self.scheduler.finished(event.task.trunk, event.task.seq)
                self._emit("probe", {"trunk": event.task.trunk, "kind": event.task.kind, "ok": event.ok,
                                     "phases": event.phases})
                self.probes.record(event.task.trunk, Sample(now, event.task.kind, event.ok, event.code,
                                                            event.rtt_ms, event.detail))
                h, sentence = probe_result(self.health[event.task.trunk], event.task.seq, event.ok, now,
                                           self.specs[event.task.trunk].rules, code=event.code, detail=event.detail)
                await self._trunk_changed(h, sentence, now)
            elif isinstance(event, ev.Overdue):
                h, sentence = probe_overdue(self.health[event.task.trunk], event.task.seq, now)
                await self._trunk_changed(h, sentence, now)
            elif isinstance(event, ev.MediaDone):
                self._emit("probe", {"trunk": event.trunk, "kind": "media", "ok": event.ok, "phases": {}})
                self.probes.record(event.trunk, Sample(now, "media", event.ok, None, None, event.detail))
                h, sentence = media_result(self.health[event.trunk], event.ok, now, event.detail)
                await self._trunk_changed(h, sentence, now)
            elif isinstance(event, ev.Calls):
                self.calls, self.calls_detail = event.count, event.detail
            elif isinstance(event, ev.Edge):
                self.edge = {role.value: event.view.get(group) for role, group in self.groups.items()}
            elif isinstance(event, ev.SwapDone):
                await self._swap_done(event, now)
            else:
                await self._operator(event, now)
        now = self.clock()
        await self._apply(decide(self.pair, self.observation(), now, self.rules), now, "cycle")
        self._emit("cycle", {"seconds": time.perf_counter() - began})

    async def _trunk_changed(self, h: TrunkHealth, sentence: str | None, now: float) -> None:
        before = self.health[h.name].state
        self.health[h.name] = h
        if sentence is None:
            return
        routine = routine_change(before, h.state)
        self._emit("trunk", {"trunk": h.name, "state": h.state.value, "sentence": sentence})
        if routine:
            log.info("%s", sentence)
            return
        self._say(sentence)
        await self._record("trunk", sentence, now)

    async def _operator(self, request: ev.OperatorRequest, now: float) -> None:
        action = replace(request.action, at=now)
        sentences: list[str] = []
        try:
            if not self.leader:
                raise LeaseLost("this replica does not hold the lease")
            decision = operator(self.pair, action, now)
            await self._db(self.store.record_action, self.term, action, decision.sentence)
            sentences.append(decision.sentence)
            await self._apply(decision, now, "operator", force_record=True)
            follow = decide(self.pair, self.observation(), now, self.rules)
            if follow.intents or follow.snapshot.state is not self.pair.state:
                sentences.append(follow.sentence)
            await self._apply(follow, now, "cycle")
        except StoreError as exc:
            sentences.append(f"{action.kind} refused: {exc}")
        if not request.reply.done():
            request.reply.set_result(sentences)

    async def _apply(self, decision: Decision, now: float, kind: str, *, force_record: bool = False) -> None:
        """Persist the decision, then carry out its intents: notifications, and at most one swap."""
        if not self.leader:
            self.last_sentence = f"standby: this replica does not hold the lease; would say: {decision.sentence}"
            return
        self.decisions += 1
        changed = decision.snapshot != self.pair
        notable = force_record or bool(decision.intents) or decision.snapshot.state is not self.pair.state
        swap = decision.swap
        if swap is not None:
            if self._stopping:
                self._say(f"stopping: not starting a swap; {decision.sentence}")
                return
            if not self._lease_fresh(now):
                self._say(f"not acting: the lease is near expiry; {decision.sentence}")
                return
            try:
                await self._db(self.store.begin_intent, self.term, now, swap, self.groups[swap.to],
                               decision.snapshot, sentence=decision.sentence, evidence=self._evidence())
            except StoreError as exc:
                self._store_trouble(exc, decision.sentence)
                return
            self.store_ok = True
            self.pair = decision.snapshot
            self._say(decision.sentence)
            self._start_swap(swap)
        else:
            previous = self.pair
            self.pair = decision.snapshot
            if changed or notable:
                try:
                    await self._db(self.store.save, self.term, now, decision.snapshot,
                                   kind=kind if notable or decision.sentence != self._last_recorded else None,
                                   sentence=decision.sentence, evidence=self._evidence() if notable else {})
                    self.store_ok = True
                except StoreError as exc:
                    self._store_trouble(exc, decision.sentence)
                    if isinstance(exc, LeaseLost):
                        self.pair = previous
            if notable:
                self._say(decision.sentence)
                self._last_recorded = decision.sentence
        self.last_sentence = decision.sentence
        for intent in decision.intents:
            if isinstance(intent, Notify):
                self._alert(intent)

    def _start_swap(self, swap: Swap) -> None:
        async def note_prior(prior: Any) -> None:
            try:
                await self._db(self.store.note_prior, self.term, swap.key, routing_json(prior))
            except LeaseLost as exc:
                raise PlatformError(f"not writing: {exc}") from None  # fenced: another replica acts now
            except StoreError as exc:
                log.warning("could not save the routing before swap %s: %s", swap.key, exc)

        async def run() -> None:
            started = time.perf_counter()
            outcome = await carry_out(self.platform, self.groups[swap.to], swap.key, self._swap_deadline(),
                                      note_prior)
            self.swap_durations.append(time.perf_counter() - started)
            self._post(ev.SwapDone(swap, outcome))

        self._emit("swap_started", {"to": swap.to.value, "key": swap.key, "reason": swap.reason})
        self._swap_task = self._spawn(run(), f"swap {swap.key}")

    async def _swap_done(self, event: ev.SwapDone, now: float) -> None:
        outcome = event.outcome
        self.routing = routing_json(outcome.after) or self.routing
        status = IntentStatus.APPLIED if outcome.ok else IntentStatus.FAILED
        try:
            await self._db(self.store.finish_intent, self.term, event.swap.key, status, outcome.detail, now,
                           routing_json(outcome.after))
        except StoreError as exc:
            self._store_trouble(exc, f"the outcome of swap {event.swap.key}")
        if self.pair.in_flight != event.swap:
            return
        self._emit("swap_done", {"to": event.swap.to.value, "ok": outcome.ok, "key": event.swap.key,
                                 "detail": outcome.detail})
        await self._apply(swap_finished(self.pair, outcome.ok, now, outcome.detail), now, "swap")

    # ---- periodic work -----------------------------------------------------------------------

    async def _poll(self, now: float) -> None:
        if self.term is not None:
            try:
                await self._db(self.store.renew_lease, self.holder, self.term, self.lease_ttl, now)
                self.lease_until = now + self.lease_ttl
            except LeaseLost as exc:
                self.term = None
                self._alert(Notify("lease_lost", "critical",
                                   f"lost the lease ({exc}): another trunkguard acts on this store now, so this "
                                   "one stops acting and stays standby until it is restarted"))
            except StoreError as exc:
                self._store_trouble(exc, "renewing the lease")
        self._spawn(self._read_calls(), "active calls")
        self.readiness = await asyncio.to_thread(readiness, self.config)  # a `trunkguard sweep` run meanwhile
        gates = self.config.policy.readiness
        if now >= self._next_recheck:
            self._next_recheck = now + gates.recheck_interval
            self._spawn(self._recheck(sweep=False), "readiness re-check")
        if now >= self._next_sweep:
            self._next_sweep = now + gates.sweep_interval
            self._spawn(self._recheck(sweep=True), "DID sweep")
        if isinstance(self.platform, EdgeView):
            self._spawn(self._read_edge(self.platform), "edge view")

    async def _recheck(self, *, sweep: bool) -> None:
        """Re-run readiness checks so a gate never rests on a stale result (a certificate expires)."""
        try:
            if sweep:
                swept = await check_sweep(self.config)
                found = {"sweep": (swept.passed, f"{swept.ok}/{swept.total} DIDs answered")}
            else:
                certs = await check_certs(self.config)
                differ = await asyncio.to_thread(check_parity, self.config)
                warn = self.config.tls.warn_days
                found = {"certs": (all(r.healthy(warn) for r in certs),
                                   "; ".join(f"{r.trunk}: {r.error or f'{r.days_left} days left'}" for r in certs)),
                         "parity": (not differ, f"{len(differ)} differences")}
        except (TrunkguardError, OSError) as exc:
            log.warning("readiness re-check failed to run: %s", exc)
            return
        for name, (ok, detail) in found.items():
            (log.info if ok else log.warning)("readiness re-check: %s %s (%s)", name, "passed" if ok else "FAILED",
                                              detail)
        self.readiness = await asyncio.to_thread(readiness, self.config)

    async def _read_calls(self) -> None:
        try:
            async with asyncio.timeout(self.config.platform.timeout if self.config.platform else 10):
                count = await self.platform.active_calls()
            self._post(ev.Calls(count, "read"))
        except (PlatformError, TimeoutError) as exc:
            self._post(ev.Calls(None, f"unknown: {exc}"))

    async def _read_edge(self, platform: EdgeView) -> None:
        try:
            async with asyncio.timeout(self.config.platform.timeout if self.config.platform else 10):
                view = await platform.edge_view()
        except (PlatformError, TimeoutError) as exc:
            log.info("the platform's edge view is unavailable: %s", exc)
            view = {}
        self._post(ev.Edge(view))

    def _launch(self, task: ProbeTask) -> None:
        if task.kind == "media":
            self._spawn(self._media(task.trunk), f"media {task.trunk}")
            return
        loop = asyncio.get_running_loop()
        overdue = loop.call_later(T1, self._post, ev.Overdue(task)) if task.timeout > T1 else None
        self._spawn(self._options(task, overdue), f"options {task.trunk} #{task.seq}")

    async def _options(self, task: ProbeTask, overdue: asyncio.TimerHandle | None) -> None:
        async with self._probe_slots:
            result = await self.probes.options_probe(task.trunk)
        if overdue is not None:
            overdue.cancel()
        detail = result.summary()
        self._post(ev.ProbeDone(task, result.success, result.code, result.rtt_ms, detail,
                                          dict(result.phases)))

    async def _media(self, trunk: str) -> None:
        async with self._probe_slots:
            result = await self.probes.media_probe(trunk)
        detail = f"{result.status}" + (f" {result.code}" if result.code else "") + \
            (f": {result.reason}" if result.reason and result.status != "ok" else "")
        self._post(ev.MediaDone(trunk, result.status == "ok", detail))

    # ---- helpers -----------------------------------------------------------------------------

    def observation(self) -> Observation:
        return Observation(tuple(self.health.values()), self.calls, self.readiness, self.edge)

    def _evidence(self) -> dict[str, Any]:
        return views.evidence(self)

    def _swap_deadline(self) -> float:
        return 4 * (self.config.platform.timeout if self.config.platform else 10.0)

    def _lease_fresh(self, now: float) -> bool:
        return self.term is not None and self.lease_until - now > min(5.0, self.lease_ttl / 3)

    def _alert(self, notify: Notify) -> None:
        log.log(logging.WARNING if notify.severity != "info" else logging.INFO, "notify %s: %s", notify.kind,
                notify.message)
        self._emit("notify", {"kind": notify.kind, "severity": notify.severity, "message": notify.message})
        self.dispatcher.post(Alert(notify.kind, notify.severity, notify.message, self.dedup_key, self.clock(),
                                   {"active": self.pair.active.value, "state": self.pair.state.value}))

    def _store_trouble(self, exc: StoreError, what: str) -> None:
        if self.store_ok:
            self._alert(Notify("store_unreachable", "critical",
                               f"the store refused a write ({exc}); not acting on: {what}. Routing is left as it is."))
        self.store_ok = False
        if isinstance(exc, LeaseLost):
            self.term = None

    async def _record(self, kind: str, sentence: str, now: float) -> None:
        if self.term is None:
            return
        try:
            await self._db(self.store.save, self.term, now, self.pair, kind=kind, sentence=sentence,
                           evidence=self._evidence())
        except StoreError as exc:
            self._store_trouble(exc, sentence)

    def _say(self, sentence: str) -> None:
        log.info("%s", sentence)
        self._emit("sentence", {"sentence": sentence})

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        for observer in self.on_event:
            observer(kind, {**data, "at": self.clock()})

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _db(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._db_pool, functools.partial(fn, *args, **kw)),
                                          STORE_DEADLINE)
        except TimeoutError:
            raise StoreError(f"the store did not answer within {STORE_DEADLINE:g}s") from None

