"""The one owner of the swap protocol, and of reconciling an intent left in flight.

The order never changes: commit the intent (with the snapshot that has it in flight and the
decision, after the recorder's pending rows) under the lease term; read the routing and save it as
the prior state; write with the intent's idempotency key and the version read; read back; store
the outcome; tell the machine. When a write fails or times out, one more read tells whether it
landed after all, so a lost answer is not mistaken for a failed swap. A swap that cannot be
committed, or whose lease is near expiry, is never started, and the machine is told so.

At start-up (and on taking the lease) an intent still PENDING is settled by reading the platform,
never by writing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trunkguard.actuation.base import Platform, PlatformError, RoutingState
from trunkguard.core.failover import Notify, PairSnapshot, Role
from trunkguard.core.machine import Event, StartSwap, SwapSettled
from trunkguard.runtime.alerts import Alerts
from trunkguard.runtime.lease import LeaseKeeper
from trunkguard.runtime.recorder import Recorder
from trunkguard.runtime.storelink import StoreLink
from trunkguard.store import IntentStatus, LeaseLost, StoreError

log = logging.getLogger("trunkguard")


@dataclass(frozen=True)
class SwapOutcome:
    ok: bool
    detail: str
    prior: RoutingState | None = None
    after: RoutingState | None = None


def routing_json(state: RoutingState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"rule_id": state.rule_id, "trunk_group_id": state.trunk_group_id, "version": state.version,
            "raw": dict(state.raw)}


async def carry_out(platform: Platform, trunk_group_id: str, key: str, deadline: float,
                    on_prior: Any = None) -> SwapOutcome:
    """Point routing at `trunk_group_id` within `deadline` seconds. Never raises PlatformError."""
    prior: RoutingState | None = None
    try:
        async with asyncio.timeout(deadline):
            prior = await platform.read_routing()
            if on_prior is not None:
                await on_prior(prior)
            if prior.trunk_group_id == trunk_group_id:
                return SwapOutcome(True, f"already on {trunk_group_id} (version {prior.version}); nothing written",
                                   prior, prior)
            after = await platform.apply_swap(trunk_group_id, idempotency_key=key, expected_version=prior.version)
            return SwapOutcome(True, f"written and read back: {after.trunk_group_id} at version {after.version}",
                               prior, after)
    except (PlatformError, TimeoutError) as exc:
        why = str(exc) or f"no result within {deadline:g}s"
    try:
        async with asyncio.timeout(deadline / 2):
            now = await platform.read_routing()
    except (PlatformError, TimeoutError) as exc:
        return SwapOutcome(False, f"{why}; the routing could not be read afterwards either ({exc or 'timeout'})",
                           prior)
    if now.trunk_group_id == trunk_group_id:
        return SwapOutcome(True, f"{why}; but a fresh read shows {trunk_group_id} at version {now.version}", prior, now)
    return SwapOutcome(False, f"{why}; routing still on {now.trunk_group_id}", prior, now)


class Actuator:
    def __init__(self, platform: Platform, link: StoreLink, lease: LeaseKeeper, recorder: Recorder, alerts: Alerts,
                 post: Callable[[Event], None], clock: Callable[[], float], groups: dict[Role, str],
                 deadline: float, observe: Callable[[str, dict[str, Any]], None]) -> None:
        self.platform = platform
        self.link = link
        self.lease = lease
        self.recorder = recorder
        self.alerts = alerts
        self.groups = groups
        self.deadline = deadline
        self._post = post
        self._clock = clock
        self._observe = observe
        self._task: asyncio.Task[None] | None = None
        self._routing: dict[str, Any] | None = None
        self.stopping = False

    def routing(self) -> dict[str, Any] | None:
        """The routing as last read from the platform."""
        return None if self._routing is None else dict(self._routing)

    def start(self, effect: StartSwap, evidence: dict[str, Any]) -> None:
        self._task = asyncio.get_running_loop().create_task(self._swap(effect, evidence),
                                                            name=f"swap {effect.swap.key}")

    async def finish(self, timeout: float) -> None:
        """At shutdown: let a swap in flight finish (or leave it to be reconciled at the next start)."""
        if self._task is not None and not self._task.done():
            log.warning("stopping with a swap in flight: it is left to finish or to be reconciled at the next start")
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def _swap(self, effect: StartSwap, evidence: dict[str, Any]) -> None:
        swap, now = effect.swap, self._clock()
        if self.stopping:
            self._post(SwapSettled(swap.key, False, "stopping: not starting a swap", attempted=False))
            return
        term = self.lease.current().term
        if term is None or not self.lease.fresh(now):
            self._post(SwapSettled(swap.key, False, "not acting: the lease is near expiry", attempted=False))
            return
        await self.recorder.flush()
        group = self.groups[swap.to]
        try:
            await self.link.call(self.link.store.begin_intent, term, now, swap, group, effect.snapshot,
                                 sentence=effect.sentence, evidence=evidence)
        except StoreError as exc:
            self.alerts.store_trouble(exc, effect.sentence)
            self._post(SwapSettled(swap.key, False, f"its intent could not be stored: {exc}", attempted=False))
            return
        self.alerts.store_fine()

        async def note_prior(prior: RoutingState) -> None:
            try:
                await self.link.call(self.link.store.note_prior, term, swap.key, routing_json(prior))
            except LeaseLost as exc:
                raise PlatformError(f"not writing: {exc}") from None  # fenced: another replica acts now
            except StoreError as exc:
                log.warning("could not save the routing before swap %s: %s", swap.key, exc)

        self._observe("swap_started", {"to": swap.to.value, "key": swap.key, "reason": swap.reason})
        started = time.perf_counter()
        outcome = await carry_out(self.platform, group, swap.key, self.deadline, note_prior)
        seconds = time.perf_counter() - started
        self._routing = routing_json(outcome.after) or self._routing
        status = IntentStatus.APPLIED if outcome.ok else IntentStatus.FAILED
        try:
            await self.link.call(self.link.store.finish_intent, term, swap.key, status, outcome.detail, self._clock(),
                                 routing_json(outcome.after))
        except StoreError as exc:
            self.alerts.store_trouble(exc, f"the outcome of swap {swap.key}")
        self._observe("swap_done", {"to": swap.to.value, "ok": outcome.ok, "key": swap.key,
                                    "detail": outcome.detail, "seconds": seconds})
        self._post(SwapSettled(swap.key, outcome.ok, outcome.detail))

    async def reconcile(self, term: int, restored: PairSnapshot | None, stop: asyncio.Event) -> bool:
        """Settle what a crash (or the previous leader) left in flight, by reading only. False if stopped first."""
        pending = await self.link.call(self.link.store.intents, status=IntentStatus.PENDING)
        flight = restored.in_flight if restored is not None else None
        for intent in pending:
            routing = await self._read_until_answered(intent.key, stop)
            if routing is None:
                return False
            applied = routing.trunk_group_id == intent.trunk_group_id
            outcome = (f"found in flight at start-up; the platform shows {routing.trunk_group_id} "
                       f"(version {routing.version}): {'applied' if applied else 'not applied'}")
            status = IntentStatus.RECONCILED if applied else IntentStatus.ABANDONED
            await self.link.call(self.link.store.finish_intent, term, intent.key, status, outcome, self._clock(),
                                 routing_json(routing))
            self._routing = routing_json(routing)
            if flight is not None and flight.key == intent.key:
                self._post(SwapSettled(intent.key, applied, outcome))
                flight = None
            else:
                log.info("reconciled swap %s: %s", intent.key, outcome)
        if flight is not None:  # its outcome was stored, but the snapshot after it was not
            found = await self.link.call(self.link.store.intents, key=flight.key)
            record = found[0] if found else None
            ok = record is not None and record.status in (IntentStatus.APPLIED, IntentStatus.RECONCILED)
            self._post(SwapSettled(flight.key, ok, "settled at start-up from the stored outcome "
                                                   f"({record.status.value if record else 'no record'})"))
        return True

    async def _read_until_answered(self, key: str, stop: asyncio.Event) -> RoutingState | None:
        alerted = False
        while not stop.is_set():
            try:
                async with asyncio.timeout(self.deadline):
                    return await self.platform.read_routing()
            except (PlatformError, TimeoutError) as exc:
                if not alerted:
                    alerted = True
                    self.alerts.notify(Notify("platform_unreachable", "critical",
                                              f"cannot read the platform to reconcile swap {key}: {exc}; "
                                              "no action until it answers"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)
        return None
