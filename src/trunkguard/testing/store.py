"""Every store protocol (store/protocols.py) in memory, with the same fencing rule as the database (a
write under a stale term raises LeaseLost and writes nothing), a record of each write transaction
(`writes`), and a switch to make the next calls fail (`fail_with`).

Snapshots, decisions, intents and people's actions belong to a routing group, as in the database
("default" unless told; `snapshot` is the default group's, `snapshots` every group's).

Not a model of SQL: a model of what the runtime may rely on. The contract both keep is tested in
tests/test_memory_store.py against the real `Store` and this one alike.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from typing import Any

from trunkguard.core.failover import OperatorAction, PairSnapshot, Swap
from trunkguard.errors import LeaseLost, StoreError
from trunkguard.store.audit import Batch
from trunkguard.store.intents import IntentRecord, IntentStatus
from trunkguard.store.models import DEFAULT_GROUP, check_group


@dataclass
class _Lease:
    holder: str
    term: int
    expires_at: float


@dataclass
class MemoryStore:
    clock: Any = time.time
    writes: list[str] = field(default_factory=list)  # the name of each write transaction, in order
    fail_with: StoreError | None = None  # raised by every call while set
    snapshots: dict[str, PairSnapshot] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    trace_rows: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    _intents: dict[str, IntentRecord] = field(default_factory=dict)
    _lease: _Lease | None = None

    @property
    def snapshot(self) -> PairSnapshot | None:
        """The default group's snapshot."""
        return self.snapshots.get(DEFAULT_GROUP)

    @snapshot.setter
    def snapshot(self, snapshot: PairSnapshot | None) -> None:
        if snapshot is None:
            self.snapshots.pop(DEFAULT_GROUP, None)
        else:
            self.snapshots[DEFAULT_GROUP] = snapshot

    # ---- helpers ---------------------------------------------------------------------------

    def _call(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def _fence(self, term: int) -> None:
        if self._lease is None or self._lease.term != term:
            raise LeaseLost(f"write refused: lease term {term} is stale "
                            f"(now {self._lease.term if self._lease else 'none'})")

    def _write(self, name: str, term: int | None) -> None:
        self._call()
        if term is not None:
            self._fence(term)
        self.writes.append(name)

    def _put(self, term: int, batch: Batch | None) -> None:
        if not batch:
            return
        for group, (_, snapshot) in batch.latest().items():
            self.snapshots[group] = snapshot
        self.decisions.extend({**d, "group": check_group(d.get("group", DEFAULT_GROUP)), "term": term}
                              for d in copy.deepcopy(batch.decisions))
        self.trace_rows.extend(batch.trace)
        self.checks.extend({**c, "term": term} for c in batch.checks)

    # ---- LeaseStore --------------------------------------------------------------------------

    def try_lease(self, holder: str, ttl: float, now: float | None = None) -> tuple[int | None, float]:
        self._call()
        now = self.clock() if now is None else now
        lease = self._lease
        if lease is None:
            self._lease = _Lease(holder, 1, now + ttl)
            return 1, 0.0
        if lease.holder == holder and lease.expires_at > now:
            lease.expires_at = now + ttl
            return lease.term, 0.0
        if lease.expires_at > now:
            return None, lease.expires_at - now
        self._lease = _Lease(holder, lease.term + 1, now + ttl)
        return self._lease.term, 0.0

    def renew_lease(self, holder: str, term: int, ttl: float, now: float | None = None) -> None:
        self._call()
        now = self.clock() if now is None else now
        lease = self._lease
        if lease is None or lease.holder != holder or lease.term != term or lease.expires_at <= now:
            raise LeaseLost(f"the lease moved on from term {term}, or lapsed")
        lease.expires_at = now + ttl

    def release_lease(self, holder: str, term: int) -> None:
        self._call()
        if self._lease is not None and self._lease.holder == holder and self._lease.term == term:
            self._lease.expires_at = 0.0

    def lease(self) -> dict[str, Any] | None:
        self._call()
        lease = self._lease
        if lease is None:
            return None
        released = lease.expires_at <= 0.0
        return {"holder": lease.holder, "term": lease.term, "expires_at": None if released else lease.expires_at,
                "left_s": 0.0 if released else round(lease.expires_at - self.clock(), 3), "released": released}

    def take_over(self, holder: str, ttl: float = 60.0) -> int:
        """Another replica takes the lease (a new term), whatever this one thinks: for tests of fencing."""
        term = (self._lease.term if self._lease else 0) + 1
        self._lease = _Lease(holder, term, self.clock() + ttl)
        return term

    def heartbeat(self, holder: str, *, name: str, kind: str, host: str, pid: int, started_at: float,
                  view: dict[str, Any] | None = None, forget_after: float = 86400.0) -> dict[str, Any]:
        self._call()
        now = self.clock()
        row = self.members.setdefault(holder, {"holder": holder, "host": host, "pid": pid, "started_at": started_at})
        row.update(name=name, kind=kind, seen_at=now, **({"view": view} if view is not None else {}))
        members = [{**m, "age_s": round(now - m["seen_at"], 3), "view": m.get("view")}
                   for m in sorted(self.members.values(), key=lambda m: -m["seen_at"])]
        return {"now": now, "members": members, "lease": self.lease()}

    def forget_member(self, holder: str) -> None:
        self._call()
        self.members.pop(holder, None)

    # ---- AuditStore ----------------------------------------------------------------------------

    def load_snapshot(self, *, group: str = DEFAULT_GROUP) -> PairSnapshot | None:
        self._call()
        return self.snapshots.get(group)

    def load_snapshots(self) -> dict[str, PairSnapshot]:
        self._call()
        return dict(sorted(self.snapshots.items()))

    def write_batch(self, term: int, batch: Batch) -> None:
        self._write("write_batch", term)
        self._put(term, batch)

    def record_action(self, term: int, action: OperatorAction, result: str, *, group: str = DEFAULT_GROUP) -> None:
        check_group(group)
        self._write("record_action", term)
        self.actions.append({"group": group, "kind": action.kind, "who": action.who, "why": action.why,
                             "at": action.at, "result": result, "term": term})

    # ---- IntentStore -------------------------------------------------------------------------

    def begin_intent(self, term: int, now: float, swap: Swap, trunk_group_id: str, snapshot: PairSnapshot,
                     *, sentence: str, evidence: dict[str, Any], prior: dict[str, Any] | None = None,
                     batch: Batch | None = None, group: str = DEFAULT_GROUP) -> None:
        check_group(group)
        self._write("begin_intent", term)
        if swap.key in self._intents:
            raise StoreError(f"store write failed: intent {swap.key} exists already")
        self._put(term, batch)
        self._intents[swap.key] = IntentRecord(swap.key, swap.to, trunk_group_id, swap.trigger, swap.reason,
                                               IntentStatus.PENDING, "", prior, None, now, None, term, group)
        newer = None if batch is None else batch.latest().get(group)
        if newer is None or newer[0] <= now:
            self.snapshots[group] = snapshot
        self.decisions.append({"group": group, "at": now, "kind": "swap", "sentence": sentence,
                               "state": snapshot.state.value, "active": snapshot.active, "intent_key": swap.key,
                               "evidence": evidence, "term": term})

    def finish_intent(self, term: int, key: str, status: IntentStatus, outcome: str, now: float,
                      after: dict[str, Any] | None = None, *, batch: Batch | None = None) -> None:
        self._write("finish_intent", term)
        found = self._intents.get(key)
        if found is not None:
            self._intents[key] = replace(found, status=status, outcome=outcome, after=after, finished_at=now)
        self._put(term, batch)

    def intents(self, *, status: IntentStatus | None = None, key: str | None = None, limit: int = 100,
                group: str | None = None) -> list[IntentRecord]:
        self._call()
        rows = [r for r in self._intents.values() if (status is None or r.status is status)
                and (key is None or r.key == key) and (group is None or r.group == group)]
        return rows[-limit:]

    def last_intent(self, *, to_role: str, statuses: tuple[IntentStatus, ...],
                    group: str = DEFAULT_GROUP) -> IntentRecord | None:
        self._call()
        rows = [r for r in self._intents.values()
                if r.group == group and r.to_role == to_role and r.status in statuses]
        return rows[-1] if rows else None

    # ---- CheckStore --------------------------------------------------------------------------

    def save_check(self, check: str, carrier: str, ok: bool, at: float, summary: str, result: dict[str, Any], *,
                   trunk: str | None = None, term: int | None = None) -> None:
        self._write("save_check", term)
        self.checks.append({"check": check, "carrier": carrier, "trunk": trunk, "ok": ok, "at": at,
                            "summary": summary, "result": result, "term": term})

    def latest_checks(self, carrier: str | None = None) -> dict[str, dict[str, Any]]:
        self._call()
        return {c["check"]: c for c in self.checks if carrier is None or c["carrier"] == carrier}

    # ---- TraceStore --------------------------------------------------------------------------

    def trace(self, since: float | None = None, until: float | None = None,
              limit: int = 5_000_000) -> list[tuple[float, str, dict[str, Any]]]:
        self._call()
        return [r for r in self.trace_rows if (since is None or r[0] >= since) and (until is None or r[0] <= until)
                ][:limit]

    def prune_trace(self, before: float) -> int:
        self._call()
        kept = [r for r in self.trace_rows if r[0] >= before]
        pruned, self.trace_rows = len(self.trace_rows) - len(kept), kept
        return pruned

    def decisions_between(self, since: float, until: float) -> list[dict[str, Any]]:
        self._call()
        return [d for d in self.decisions if since <= d["at"] <= until]


__all__ = ["MemoryStore"]
