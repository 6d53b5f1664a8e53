"""The audit trail, the pair snapshot, the event trace and the media check results, written to the
store in fenced batches (one transaction a second), in the order the machine said them.

A swap's intent is not written here: the actuator commits it itself, after asking for a flush, so
the decisions that led to it are stored before it. A replica without the lease writes nothing.
When the store refuses, the batch is kept (bounded: the oldest trace events go first) and retried,
and the outage is alerted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from trunkguard.core.failover import PairSnapshot
from trunkguard.core.machine import Event
from trunkguard.core.wording import count
from trunkguard.runtime.alerts import Alerts
from trunkguard.runtime.lease import LeaseKeeper
from trunkguard.runtime.storelink import StoreLink
from trunkguard.store import LeaseLost, StoreError
from trunkguard.store.codec import event_to_json

log = logging.getLogger("trunkguard")
MAX_PENDING_TRACE = 200_000
MAX_PENDING_DECISIONS = 10_000
PRUNE_EVERY = 600.0


class Recorder:
    def __init__(self, link: StoreLink, lease: LeaseKeeper, alerts: Alerts, clock: Callable[[], float], *,
                 retention: float, flush_every: float = 1.0) -> None:
        self.link = link
        self.lease = lease
        self.alerts = alerts
        self.retention = retention
        self.flush_every = flush_every
        self._clock = clock
        self._decisions: list[dict[str, Any]] = []
        self._snapshot: tuple[float, PairSnapshot] | None = None
        self._trace: list[tuple[float, str, dict[str, Any]]] = []
        self._checks: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._next_prune = 0.0
        self.dropped = 0

    def decision(self, at: float, kind: str, sentence: str, snapshot: PairSnapshot, evidence: dict[str, Any],
                 intent_key: str | None = None) -> None:
        if len(self._decisions) >= MAX_PENDING_DECISIONS:
            self._decisions.pop(0)
            self.dropped += 1
        self._decisions.append({"at": at, "kind": kind, "sentence": sentence, "state": snapshot.state.value,
                                "active": snapshot.active.value, "intent_key": intent_key, "evidence": evidence})
        self._snapshot = (at, snapshot)

    def snapshot(self, at: float, snapshot: PairSnapshot) -> None:
        self._snapshot = (at, snapshot)

    def trace(self, at: float, event: Event) -> None:
        if self.retention <= 0:
            return
        if len(self._trace) >= MAX_PENDING_TRACE:
            del self._trace[: len(self._trace) // 10]
            self.dropped += 1
        kind, data = event_to_json(event)
        self._trace.append((at, kind, data))

    def media(self, at: float, carrier: str, trunk: str, ok: bool, detail: str) -> None:
        self._checks.append({"check": "media", "carrier": carrier, "trunk": trunk, "ok": ok, "at": at,
                             "summary": detail, "result": {"detail": detail}})

    async def flush(self) -> bool:
        """Write what is pending; True when it is all stored (or there was nothing to store)."""
        async with self._lock:
            term = self.lease.current().term
            if term is None:  # standby: the leader records
                self._decisions, self._snapshot, self._trace, self._checks = [], None, [], []
                return False
            if not (self._decisions or self._snapshot or self._trace or self._checks):
                return True
            decisions, snapshot, trace, checks = self._decisions, self._snapshot, self._trace, self._checks
            self._decisions, self._snapshot, self._trace, self._checks = [], None, [], []
            try:
                await self.link.call(self.link.store.write_batch, term, decisions=decisions, snapshot=snapshot,
                                     trace=trace, checks=checks)
            except StoreError as exc:
                if not isinstance(exc, LeaseLost):  # keep it for the next try, in order
                    self._decisions[:0], self._trace[:0], self._checks[:0] = decisions, trace, checks
                    self._snapshot = self._snapshot or snapshot
                self.alerts.store_trouble(exc, f"recording {count(len(decisions), 'decision')}")
                return False
            self.alerts.store_fine()
            return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.flush_every)
            await self.flush()
            now = self._clock()
            if self.retention > 0 and now >= self._next_prune and self.lease.current().term is not None:
                self._next_prune = now + PRUNE_EVERY
                try:
                    pruned = await self.link.call(self.link.store.prune_trace, now - self.retention)
                    if pruned:
                        log.info("pruned %d trace events older than the retention", pruned)
                except StoreError as exc:
                    log.warning("could not prune the trace: %s", exc)
