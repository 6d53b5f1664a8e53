"""The audit trail, the pair snapshot, the event trace and the media check results, written to the
store in fenced batches (one transaction a second), in the order the machine said them.

A swap's intent is not written here: the actuator takes what is pending (`take`) into the intent's
own transactions, so the decisions that led to a swap are stored with it, and the decision that
commits it with its outcome. A replica without the lease writes nothing. When the store refuses,
the batch is kept (bounded: the oldest trace events go first) and retried; the link pages the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from trunkguard.core.failover import DEFAULT_GROUP, PairSnapshot
from trunkguard.core.machine import Event
from trunkguard.core.wording import count
from trunkguard.logs import fields
from trunkguard.runtime.lease import LeaseView
from trunkguard.runtime.storelink import StoreLink
from trunkguard.store import Batch, LeaseLost, RecorderStore, StoreError
from trunkguard.store.codec import event_to_json

log = logging.getLogger("trunkguard")
MAX_PENDING_TRACE = 200_000
MAX_PENDING_DECISIONS = 10_000
PRUNE_EVERY = 600.0


class Recorder:
    def __init__(self, link: StoreLink[RecorderStore], lease: LeaseView, clock: Callable[[], float], *,
                 retention: float, flush_every: float = 1.0) -> None:
        self.link = link
        self.lease = lease
        self.retention = retention
        self.flush_every = flush_every
        self._clock = clock
        self._pending = Batch()
        self._lock = asyncio.Lock()
        self._next_prune = 0.0
        self.dropped = 0

    def decision(self, at: float, kind: str, sentence: str, snapshot: PairSnapshot, evidence: dict[str, Any],
                 intent_key: str | None = None, group: str = DEFAULT_GROUP) -> None:
        decisions = self._pending.decisions
        if len(decisions) >= MAX_PENDING_DECISIONS:
            decisions.pop(0)
            self.dropped += 1
        decisions.append({"at": at, "kind": kind, "sentence": sentence, "state": snapshot.state.value,
                          "active": snapshot.active, "intent_key": intent_key, "evidence": evidence,
                          "group": group})
        self.snapshot(at, snapshot, group)

    def snapshot(self, at: float, snapshot: PairSnapshot, group: str = DEFAULT_GROUP) -> None:
        if group == DEFAULT_GROUP:
            self._pending.snapshot = (at, snapshot)
        else:
            self._pending.snapshots[group] = (at, snapshot)

    def trace(self, at: float, event: Event) -> None:
        if self.retention <= 0:
            return
        trace = self._pending.trace
        if len(trace) >= MAX_PENDING_TRACE:
            del trace[: len(trace) // 10]
            self.dropped += 1
        kind, data = event_to_json(event)
        trace.append((at, kind, data))

    def media(self, at: float, carrier: str, trunk: str, ok: bool, detail: str) -> None:
        self._pending.checks.append({"check": "media", "carrier": carrier, "trunk": trunk, "ok": ok, "at": at,
                                     "summary": detail, "result": {"detail": detail}})

    def take(self) -> Batch:
        """What is pending, for a write of the caller's own (a swap's intent); empty on a standby."""
        batch, self._pending = self._pending, Batch()
        return batch if self.lease.current().term is not None else Batch()

    def give_back(self, batch: Batch) -> None:
        """A taken batch the store refused: kept, before what came since, for the next try."""
        pending = self._pending
        pending.decisions[:0], pending.trace[:0], pending.checks[:0] = batch.decisions, batch.trace, batch.checks
        pending.snapshot = pending.snapshot or batch.snapshot
        pending.snapshots = {**batch.snapshots, **pending.snapshots}

    async def flush(self) -> bool:
        """Write what is pending; True when it is all stored (or there was nothing to store)."""
        async with self._lock:
            term = self.lease.current().term
            if term is None:  # standby: the leader records
                self._pending = Batch()
                return False
            if not self._pending:
                return True
            batch = self.take()
            try:
                await self.link.call(self.link.store.write_batch, term, batch,
                                     doing=f"recording {count(len(batch.decisions), 'decision')}")
            except asyncio.CancelledError:  # stopping with the write queued: kept for the last flush
                self.give_back(batch)
                raise
            except StoreError as exc:
                if not isinstance(exc, LeaseLost):  # keep it for the next try, in order
                    self.give_back(batch)
                return False
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
                    pruned = await self.link.call(self.link.store.prune_trace, now - self.retention,
                                                  doing="pruning the trace")
                    if pruned:
                        log.info("pruned %d trace events older than the retention", pruned,
                                 extra=fields("trace_pruned", count=pruned))
                except StoreError as exc:
                    log.warning("could not prune the trace: %s", exc,
                                extra=fields("trace_prune_failed", error=str(exc)))
