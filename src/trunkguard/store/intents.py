"""Intents: a swap's row, committed before the platform is touched and finished with its outcome
after the read-back. At start-up the runtime reconciles any intent still PENDING by reading the
platform (runtime/actuator.py), never by applying it again. An approval is single use: the swap
that consumes it marks it used. Each intent belongs to a routing group, and uses only its group's
approvals."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update

from trunkguard.core.failover import PairSnapshot, Swap
from trunkguard.store.audit import AuditRows, Batch, of_group
from trunkguard.store.models import DEFAULT_GROUP, DecisionRow, IntentRow, OperatorActionRow, check_group


class IntentStatus(StrEnum):
    PENDING = "pending"        # written, platform not yet confirmed
    APPLIED = "applied"        # written and read back
    FAILED = "failed"          # the platform refused or the deadline passed; routing unchanged
    RECONCILED = "reconciled"  # found in flight at start-up; the platform showed it applied
    ABANDONED = "abandoned"    # found in flight at start-up; the platform showed it not applied


@dataclass(frozen=True)
class IntentRecord:
    key: str
    to_role: str
    trunk_group_id: str
    trigger: str
    reason: str
    status: IntentStatus
    outcome: str
    prior: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: float
    finished_at: float | None
    term: int
    group: str = DEFAULT_GROUP

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "group": self.group, "to": self.to_role, "trunk_group_id": self.trunk_group_id,
                "trigger": self.trigger, "reason": self.reason, "status": self.status.value, "outcome": self.outcome,
                "created_at": self.created_at, "finished_at": self.finished_at, "term": self.term}


def _intent(r: IntentRow) -> IntentRecord:
    return IntentRecord(r.key, r.to_role, r.trunk_group_id, r.trigger, r.reason, IntentStatus(r.status),
                        r.outcome, r.prior, r.after, r.created_at, r.finished_at, r.term, r.group)


class IntentRows(AuditRows):
    def begin_intent(self, term: int, now: float, swap: Swap, trunk_group_id: str, snapshot: PairSnapshot,
                     *, sentence: str, evidence: dict[str, Any], prior: dict[str, Any] | None = None,
                     batch: Batch | None = None, group: str = DEFAULT_GROUP) -> None:
        """A swap's first write, before the platform is touched, in one fenced transaction: what the
        recorder had not stored yet (the decisions that led here), the intent with the routing read just
        before (`prior`: kept for the audit and for a failback to restore), the group's snapshot that has
        the swap in flight, and the decision with its evidence. An approval (of the group) it consumes is
        marked used."""
        check_group(group)
        with self._tx() as s:
            self._fence(s, term)
            if batch:
                self._put_batch(s, term, batch)
            s.add(IntentRow(group=group, key=swap.key, to_role=swap.to, trunk_group_id=trunk_group_id,
                            trigger=swap.trigger, reason=swap.reason, status=IntentStatus.PENDING.value,
                            outcome="", created_at=now, term=term, prior=prior))
            newer = None if batch is None else batch.latest().get(group)
            if newer is None or newer[0] <= now:  # never over a newer one
                self._put_snapshot(s, term, now, snapshot, group=group)
            s.add(DecisionRow(group=group, at=now, kind="swap", sentence=sentence, state=snapshot.state.value,
                              active=snapshot.active, intent_key=swap.key, evidence=evidence, term=term))
            if swap.trigger == "operator" and swap.up:  # a person's approved return up the chain
                approval = s.scalars(select(OperatorActionRow).where(
                    OperatorActionRow.group == group, OperatorActionRow.kind == "failback",
                    OperatorActionRow.used_at.is_(None))
                    .order_by(OperatorActionRow.id.desc()).limit(1)).first()
                if approval is not None:
                    approval.used_at, approval.used_by = now, swap.key

    def finish_intent(self, term: int, key: str, status: IntentStatus, outcome: str, now: float,
                      after: dict[str, Any] | None = None, *, batch: Batch | None = None) -> None:
        """A swap's second write, in one fenced transaction: its outcome, and the batch that holds the
        decision committing it and the snapshot after it (a reconciliation at start-up: no batch)."""
        with self._tx() as s:
            self._fence(s, term)
            s.execute(update(IntentRow).where(IntentRow.key == key).values(
                status=status.value, outcome=outcome, after=after, finished_at=now))
            if batch:
                self._put_batch(s, term, batch)

    def intents(self, *, status: IntentStatus | None = None, key: str | None = None, limit: int = 100,
                group: str | None = None) -> list[IntentRecord]:
        """The newest `limit` intents (with this status or key; of the group, None: of every group),
        oldest first."""
        with self._tx() as s:
            query = select(IntentRow).where(*of_group(IntentRow.group, group)).order_by(IntentRow.id.desc())
            if status is not None:
                query = query.where(IntentRow.status == status.value)
            if key is not None:
                query = query.where(IntentRow.key == key)
            rows = list(reversed(s.scalars(query.limit(limit)).all()))
            return [_intent(r) for r in rows]

    def last_intent(self, *, to_role: str, statuses: tuple[IntentStatus, ...],
                    group: str = DEFAULT_GROUP) -> IntentRecord | None:
        """The group's newest intent to `to_role` with one of `statuses`."""
        with self._tx() as s:
            r = s.scalars(select(IntentRow).where(IntentRow.group == group, IntentRow.to_role == to_role,
                                                  IntentRow.status.in_([x.value for x in statuses]))
                          .order_by(IntentRow.id.desc()).limit(1)).first()
            return None if r is None else _intent(r)
