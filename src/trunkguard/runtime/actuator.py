"""Commits a swap's intent, carries it out by the swap protocol, and settles intents left in flight.

The order never changes, and a swap writes to the store twice:
1. read the routing as it is (nothing is written when it cannot be read);
2. write one: the recorder's pending rows (the decisions that led here), the intent with that prior
   routing, the snapshot that has the swap in flight, and the decision with its evidence, under the
   lease term;
3. carry out the plan (`actuation/swap.py`: read, write with the intent's key, read back, put back on
   refusal), and tell the machine;
4. write two, once the machine has folded the result: the intent's outcome naming every object, the
   decision that commits it (or says it failed) and the snapshot after it.
A swap that cannot be committed, or whose lease is near expiry, is never started, and the machine is
told so. A failback restores the routing recorded before the swap it undoes.

An intent found in flight (at start-up, on taking the lease) is settled by reading only: the
platform is read until it shows the intent's routing or the settle window (counted from the
intent's start, at most `settle` from now) passes. Only then does it count as not applied, and only
then may the machine open a new intent, with a new key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from trunkguard.actuation.base import Platform, PlatformError, RoutingState
from trunkguard.actuation.swap import Book, SwapRules, carry_out, read_until_settled, routing_from_json, routing_json
from trunkguard.core.failover import DEFAULT_GROUP, Notify, PairSnapshot
from trunkguard.core.machine import Event, StartSwap, SwapSettled
from trunkguard.logs import fields
from trunkguard.runtime.alerts import Alerts
from trunkguard.runtime.lease import LeaseView
from trunkguard.runtime.recorder import Recorder
from trunkguard.runtime.storelink import StoreLink
from trunkguard.store import Batch, IntentRecord, IntentStatus, IntentStore, LeaseLost, StoreError

log = logging.getLogger("trunkguard")
LANDED = (IntentStatus.APPLIED, IntentStatus.RECONCILED)
RETRY_OUTCOME = 1.0  # seconds between tries to store a swap's outcome the store refused


@dataclass(frozen=True)
class _Outcome:
    term: int
    status: IntentStatus
    detail: str
    after: dict[str, Any] | None


RESTORE_LOOKBACK = 200  # intents read back to find the routing to restore (a chain's whole incident, many times)


class Actuator:
    def __init__(self, platform: Platform, link: StoreLink[IntentStore], lease: LeaseView, recorder: Recorder,
                 alerts: Alerts,
                 post: Callable[[Event], None], clock: Callable[[], float], groups: dict[str, str],
                 rules: SwapRules, observe: Callable[[str, dict[str, Any]], None], *,
                 group: str = DEFAULT_GROUP) -> None:
        """One routing group's: `platform` writes its objects, `groups` its carriers' trunk group ids."""
        self.group = group
        self.platform = platform
        self.link = link
        self.lease = lease
        self.recorder = recorder
        self.alerts = alerts
        self.groups = groups
        self.rules = rules
        self.book = Book(rules.readback)  # the newest copy of each object written: lagging reads are not the truth
        self._post = post
        self._clock = clock
        self._observe = observe
        self._task: asyncio.Task[None] | None = None
        self._routing: dict[str, Any] | None = None
        self._outcomes: dict[str, _Outcome] = {}  # swaps carried out whose outcome waits for the machine's word
        self._finishing: set[asyncio.Task[None]] = set()
        self.started = 0  # swaps started by this process
        self.stopping = False

    def _tell(self, key: str, applied: bool, detail: str, *, attempted: bool = True) -> None:
        """The machine hears how this group's swap `key` ended (or that it never started)."""
        self._post(SwapSettled(key, applied, detail, attempted, self.group))

    def routing(self) -> dict[str, Any] | None:
        """The routing as last read from the platform."""
        return None if self._routing is None else dict(self._routing)

    def start(self, effect: StartSwap, evidence: dict[str, Any]) -> None:
        if self._task is not None and not self._task.done():  # never two at once, whatever the machine thinks
            self._tell(effect.swap.key, False, "another swap is still being carried out", attempted=False)
            return
        self.started += 1  # a drift read begun before this swap is not the truth after it
        self._task = asyncio.get_running_loop().create_task(self._swap(effect, evidence),
                                                            name=f"swap {effect.swap.key}")

    async def finish(self, timeout: float) -> None:
        """At shutdown: let a swap in flight finish (or leave it to be reconciled at the next start)."""
        if self._task is not None and not self._task.done():
            log.warning("stopping with a swap in flight: it is left to finish or to be reconciled at the next start",
                        extra=fields("stopping_with_swap_in_flight"))
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def _swap(self, effect: StartSwap, evidence: dict[str, Any]) -> None:
        swap, now = effect.swap, self._clock()
        if self.stopping:
            self._tell(swap.key, False, "stopping: not starting a swap", attempted=False)
            return
        term = self.lease.current().term
        if term is None or not self.lease.fresh(now):
            self.alerts.held_back(effect.sentence, self.group)  # paged when the store is why the lease was not renewed
            self._tell(swap.key, False, "not acting: the lease is near expiry", attempted=False)
            return
        trunk_group = self.groups[swap.to]
        try:  # the routing as it is, read before anything is written: kept with the intent
            async with asyncio.timeout(self.rules.deadline):
                prior = await self.platform.read_routing()
        except (PlatformError, TimeoutError) as exc:
            self._tell(swap.key, False, f"could not read the routing before writing: {exc or 'no answer'}; nothing "
                                        "was written")
            return
        batch = None
        try:
            restore = await self._recorded_before(swap.to)
            # the decisions that led here go in the intent's transaction, queued at once: nothing the recorder
            # writes after this can land before them
            batch = self.recorder.take()
            await self.link.submit(self.link.store.begin_intent, term, now, swap, trunk_group, effect.snapshot,
                                   sentence=effect.sentence, evidence=evidence, prior=routing_json(prior), batch=batch,
                                   doing=effect.sentence, group=self.group)
        except StoreError as exc:
            if batch is not None:
                self.recorder.give_back(batch)
            self.alerts.held_back(effect.sentence, self.group)
            self._tell(swap.key, False, f"its intent could not be stored: {exc}", attempted=False)
            return
        self._observe("swap_started", {"to": swap.to, "key": swap.key, "reason": swap.reason, "group": self.group})
        started = time.perf_counter()
        outcome = await carry_out(self.platform, trunk_group, swap.key, self.rules, restore=restore, book=self.book,
                                  prior=prior, may_write=lambda: self.lease.current().term == term
                                  and self.lease.fresh(self._clock()))
        seconds = time.perf_counter() - started
        self._routing = routing_json(outcome.after) or self._routing
        status = IntentStatus.APPLIED if outcome.ok else IntentStatus.FAILED
        self._outcomes[swap.key] = _Outcome(term, status, outcome.detail, routing_json(outcome.after))
        self._observe("swap_done", {"to": swap.to, "ok": outcome.ok, "key": swap.key, "writes": outcome.writes,
                                    "undo_writes": outcome.undo_writes, "half_switched": outcome.half_switched,
                                    "detail": outcome.detail, "seconds": seconds, "group": self.group})
        if outcome.half_switched:
            self.alerts.notify(Notify("swap_half_applied", "critical", f"swap {swap.key} to the {swap.to} "
                                      f"carrier could not finish or be put back: {outcome.detail}", self.group))
        self._tell(swap.key, outcome.ok, outcome.detail)

    def settled(self, key: str) -> None:
        """The machine has folded swap `key`'s result, and the recorder holds the decision that says so:
        the intent's outcome, that decision and the snapshot after it are written in one transaction."""
        pending = self._outcomes.pop(key, None)
        if pending is None:
            return
        batch = self.recorder.take()  # now, and queued now: before anything the recorder writes later
        written = self.link.submit(self.link.store.finish_intent, pending.term, key, pending.status, pending.detail,
                                   self._clock(), pending.after, batch=batch, doing=f"the outcome of swap {key}")
        task = asyncio.get_running_loop().create_task(self._finish(key, pending, batch, written),
                                                      name=f"finish {key}")
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _finish(self, key: str, pending: _Outcome, batch: Batch, written: Awaitable[None]) -> None:
        """The outcome is written, or retried (without the batch, given back to the recorder) until it is,
        or until the lease is gone: then the intent is settled by reading at the next leader's start."""
        try:
            await written
            return
        except LeaseLost:
            return
        except StoreError:
            self.recorder.give_back(batch)
        while not self.stopping:
            await asyncio.sleep(RETRY_OUTCOME)
            try:
                await self.link.call(self.link.store.finish_intent, pending.term, key, pending.status, pending.detail,
                                     self._clock(), pending.after, doing=f"the outcome of swap {key}")
                return
            except LeaseLost:
                return
            except StoreError:
                continue

    async def drain(self) -> None:
        """At shutdown: the outcomes being written are written (each within the store's deadline)."""
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)

    async def _recorded_before(self, to: str) -> RoutingState | None:
        """The routing recorded before the newest landed swap that left `to` (its `prior` routed to `to`):
        what a swap back restores. In a chain the way home passes other carriers (a > c > b > a), so it is
        the newest swap whose prior was `to`'s, not the newest swap into any one carrier."""
        recent = await self.link.call(self.link.store.intents, limit=RESTORE_LOOKBACK, group=self.group)
        for intent in reversed(recent):  # newest first
            prior = routing_from_json(intent.prior) if intent.status in LANDED else None
            if prior is not None and prior.trunk_group_id == self.groups[to]:
                return prior
        return None

    async def reconcile(self, term: int, restored: PairSnapshot | None, stop: asyncio.Event) -> bool:
        """Settle what a crash (or the previous leader) left in flight, by reading only. False if stopped first."""
        pending = await self.link.call(self.link.store.intents, status=IntentStatus.PENDING,
                                       group=self.group)
        flight = restored.in_flight if restored is not None else None
        for intent in pending:
            routing = await self._settle(intent, stop)
            if routing is None:
                return False
            applied = routing.trunk_group_id == intent.trunk_group_id
            outcome = (f"found in flight; the platform shows {routing.trunk_group_id} (version {routing.version}) "
                       + ("after settling: applied by this intent's own write" if applied else
                          f"through the {self.rules.settle:g}s settle window: not applied"))
            status = IntentStatus.RECONCILED if applied else IntentStatus.ABANDONED
            await self.link.call(self.link.store.finish_intent, term, intent.key, status, outcome, self._clock(),
                                 routing_json(routing), doing=f"settling swap {intent.key}")
            self._routing = routing_json(routing)
            if flight is not None and flight.key == intent.key:
                self._tell(intent.key, applied, outcome)
                flight = None
            else:
                log.info("reconciled swap %s: %s", intent.key, outcome,
                         extra=fields("swap_reconciled", intent_key=intent.key, term=term, applied=applied,
                                      outcome=outcome))
        if flight is not None:  # its outcome was stored, but the snapshot after it was not
            found = await self.link.call(self.link.store.intents, key=flight.key, group=self.group)
            record = found[0] if found else None
            ok = record is not None and record.status in LANDED
            self._tell(flight.key, ok, "settled at start-up from the stored outcome "
                                       f"({record.status.value if record else 'no record'})")
        return True

    def busy(self) -> bool:
        """A swap is being carried out, or its outcome not yet stored: the platform may be mid-change."""
        return (self._task is not None and not self._task.done()) or bool(self._outcomes) or bool(self._finishing)

    def note_routing(self, routing: RoutingState) -> None:
        """The routing as the platform showed it to a reader of it (runtime/routing.py)."""
        self._routing = routing_json(routing)

    async def _settle(self, intent: IntentRecord, stop: asyncio.Event) -> RoutingState | None:
        """Read until the platform shows the intent's routing or its settle window passes (None: stopped)."""
        until = min(self._clock() + self.rules.settle, intent.created_at + self.rules.deadline + self.rules.settle)
        return await read_until_settled(self.platform, intent.trunk_group_id, until, self.rules, self._clock, stop,
                                        lambda exc: self.alerts.notify(Notify(
                                            "platform_unreachable", "critical", f"cannot read the platform to settle "
                                            f"swap {intent.key}: {exc}; no action until it answers", self.group)))
