"""The store as each runtime part sees it: five narrow protocols, one per job. `Store` implements them
all on one database; a part is handed the one it needs (`StoreLink[LeaseStore]`, ...), and a test
hands it `trunkguard.testing.MemoryStore`, which implements them in memory.

Snapshots, decisions, intents and people's actions belong to a routing group: a write names its
group ("default" unless told), a read one group or (where it takes None) every group.

| protocol     | who uses it                          | rows                                   |
| ------------ | ------------------------------------ | -------------------------------------- |
| LeaseStore   | LeaseKeeper, VantageLink             | the lease, the members (heartbeats)    |
| IntentStore  | Actuator                             | intents (+ the batch they carry)       |
| AuditStore   | Recorder, the loop, cycle            | snapshots, decisions, people's actions |
| CheckStore   | Pollers, the check commands          | readiness check results                |
| TraceStore   | Recorder (pruning), replay           | the event trace                        |
"""

from __future__ import annotations

from typing import Any, Protocol

from trunkguard.core.failover import OperatorAction, PairSnapshot, Swap
from trunkguard.store.audit import Batch
from trunkguard.store.intents import IntentRecord, IntentStatus
from trunkguard.store.models import DEFAULT_GROUP


class LeaseStore(Protocol):
    def try_lease(self, holder: str, ttl: float, now: float | None = None) -> tuple[int | None, float]: ...

    def renew_lease(self, holder: str, term: int, ttl: float, now: float | None = None) -> None: ...

    def release_lease(self, holder: str, term: int) -> None: ...

    def lease(self) -> dict[str, Any] | None: ...

    def heartbeat(self, holder: str, *, name: str, kind: str, host: str, pid: int, started_at: float,
                  view: dict[str, Any] | None = None, forget_after: float = 86400.0) -> dict[str, Any]: ...

    def forget_member(self, holder: str) -> None: ...


class AuditStore(Protocol):
    def load_snapshot(self, *, group: str = DEFAULT_GROUP) -> PairSnapshot | None: ...

    def load_snapshots(self) -> dict[str, PairSnapshot]: ...

    def write_batch(self, term: int, batch: Batch) -> None: ...

    def record_action(self, term: int, action: OperatorAction, result: str, *, group: str = DEFAULT_GROUP) -> None: ...


class IntentStore(Protocol):
    def begin_intent(self, term: int, now: float, swap: Swap, trunk_group_id: str, snapshot: PairSnapshot,
                     *, sentence: str, evidence: dict[str, Any], prior: dict[str, Any] | None = None,
                     batch: Batch | None = None, group: str = DEFAULT_GROUP) -> None: ...

    def finish_intent(self, term: int, key: str, status: IntentStatus, outcome: str, now: float,
                      after: dict[str, Any] | None = None, *, batch: Batch | None = None) -> None: ...

    def intents(self, *, status: IntentStatus | None = None, key: str | None = None, limit: int = 100,
                group: str | None = None) -> list[IntentRecord]: ...

    def last_intent(self, *, to_role: str, statuses: tuple[IntentStatus, ...],
                    group: str = DEFAULT_GROUP) -> IntentRecord | None: ...


class CheckStore(Protocol):
    def save_check(self, check: str, carrier: str, ok: bool, at: float, summary: str, result: dict[str, Any], *,
                   trunk: str | None = None, term: int | None = None) -> None: ...

    def latest_checks(self, carrier: str | None = None) -> dict[str, dict[str, Any]]: ...


class TraceStore(Protocol):
    def trace(self, since: float | None = None, until: float | None = None,
              limit: int = 5_000_000) -> list[tuple[float, str, dict[str, Any]]]: ...

    def prune_trace(self, before: float) -> int: ...

    def decisions_between(self, since: float, until: float) -> list[dict[str, Any]]: ...


class RecorderStore(AuditStore, TraceStore, Protocol):
    """The recorder writes the audit trail and prunes the trace."""
