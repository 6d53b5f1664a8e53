"""The audit trail: the pair snapshot, decisions with their evidence, and people's actions (with the
ones queued for the next `trunkguard cycle`); and the recorder's batches, one fenced transaction each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from trunkguard.core.failover import OperatorAction, PairSnapshot
from trunkguard.store.codec import snapshot_from_json
from trunkguard.store.database import Database, table
from trunkguard.store.models import CheckRow, DecisionRow, OperatorActionRow, PairStateRow, TraceRow


@dataclass
class Batch:
    """What the recorder has not stored yet: decision rows (DecisionRow's columns but `term`), the
    latest snapshot, trace events and media check results. Written in one transaction, alone or
    with a swap's intent."""

    decisions: list[dict[str, Any]] = field(default_factory=list)
    snapshot: tuple[float, PairSnapshot] | None = None
    trace: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.decisions or self.snapshot or self.trace or self.checks)


class AuditRows(Database):
    def load_snapshot(self) -> PairSnapshot | None:
        with self._tx() as s:
            row = s.get(PairStateRow, 1)
            return None if row is None else snapshot_from_json(row.snapshot)

    def save(self, term: int, now: float, snapshot: PairSnapshot, *, kind: str | None = None,
             sentence: str = "", evidence: dict[str, Any] | None = None, intent_key: str | None = None) -> None:
        """Persist the snapshot and, when `kind` is given, one decision row, in one fenced transaction."""
        with self._tx() as s:
            self._fence(s, term)
            self._put_snapshot(s, term, now, snapshot)
            if kind is not None:
                s.add(DecisionRow(at=now, kind=kind, sentence=sentence, state=snapshot.state.value,
                                  active=snapshot.active, intent_key=intent_key, evidence=evidence or {},
                                  term=term))

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest `limit` decisions, oldest first."""
        with self._tx() as s:
            rows = s.scalars(select(DecisionRow).order_by(DecisionRow.id.desc()).limit(limit)).all()
            return [_decision(r) for r in reversed(rows)]

    def history_page(self, limit: int = 50, page: int = 1,
                     since: float | None = None) -> tuple[list[dict[str, Any]], int]:
        """Page `page` of the decisions made at or after `since` (every one without it), `limit` to a page,
        counted back from the newest (page 1: the newest `limit`, as `history`), each page oldest first,
        by the decisions' time; with how many there are, read in the same transaction."""
        with self._tx() as s:
            after = [] if since is None else [DecisionRow.at >= since]
            total = s.scalar(select(func.count()).select_from(DecisionRow).where(*after)) or 0
            rows = s.scalars(select(DecisionRow).where(*after).order_by(DecisionRow.at.desc(), DecisionRow.id.desc())
                             .offset((page - 1) * limit).limit(limit)).all()
            return [_decision(r) for r in reversed(rows)], total

    def stored_view(self) -> dict[str, Any] | None:
        """The pair snapshot as last written, with its time and term (for status without the daemon)."""
        with self._tx() as s:
            row = s.get(PairStateRow, 1)
            if row is None:
                return None
            return {"snapshot": snapshot_from_json(row.snapshot), "updated_at": row.updated_at, "term": row.term}

    def write_batch(self, term: int, batch: Batch) -> None:
        """The recorder's batch in one fenced transaction."""
        with self._tx() as s:
            self._fence(s, term)
            self._put_batch(s, term, batch)

    def _put_batch(self, s: Session, term: int, batch: Batch) -> None:
        if batch.snapshot is not None:
            self._put_snapshot(s, term, batch.snapshot[0], batch.snapshot[1])
        conn = s.connection()  # Core executemany: several times cheaper than the ORM's bulk insert
        if batch.decisions:
            conn.execute(insert(table(DecisionRow)), [{**d, "term": term} for d in batch.decisions])
        if batch.trace:
            conn.execute(insert(table(TraceRow)), [{"at": at, "kind": kind, "data": data, "term": term}
                                                   for at, kind, data in batch.trace])
        if batch.checks:
            conn.execute(insert(table(CheckRow)), [{**c, "term": term} for c in batch.checks])

    def record_action(self, term: int, action: OperatorAction, result: str) -> None:
        with self._tx() as s:
            self._fence(s, term)
            s.add(OperatorActionRow(kind=action.kind, who=action.who, why=action.why, at=action.at, result=result,
                                    term=term))

    QUEUED = "queued for the next cycle"

    def queue_action(self, action: OperatorAction) -> None:
        """A person's action for the next `trunkguard cycle` (no daemon runs to take it now). Unfenced:
        nothing is done by storing it; the cycle that holds the lease carries it out."""
        with self._tx() as s:
            s.add(OperatorActionRow(kind=action.kind, who=action.who, why=action.why, at=action.at,
                                    result=self.QUEUED, term=0))

    def queued_actions(self) -> list[tuple[int, OperatorAction]]:
        with self._tx() as s:
            rows = s.scalars(select(OperatorActionRow).where(OperatorActionRow.result == self.QUEUED)
                             .order_by(OperatorActionRow.id)).all()
            return [(r.id, OperatorAction(r.kind, r.who, r.why, r.at)) for r in rows]  # type: ignore[arg-type]

    def took_queued(self, term: int, row_id: int, result: str) -> None:
        """The cycle carried a queued action out (fenced: only the lease holder takes it)."""
        with self._tx() as s:
            self._fence(s, term)
            s.execute(update(OperatorActionRow).where(OperatorActionRow.id == row_id,
                                                      OperatorActionRow.result == self.QUEUED)
                      .values(result=result, term=term))

    def actions(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._tx() as s:
            rows = s.scalars(select(OperatorActionRow).order_by(OperatorActionRow.id.desc()).limit(limit)).all()
            return [{"kind": r.kind, "who": r.who, "why": r.why, "at": r.at, "result": r.result,
                     "used_at": r.used_at, "used_by": r.used_by} for r in reversed(rows)]


def _decision(r: DecisionRow) -> dict[str, Any]:
    return {"id": r.id, "at": r.at, "kind": r.kind, "sentence": r.sentence, "state": r.state, "active": r.active,
            "intent_key": r.intent_key, "evidence": r.evidence, "term": r.term}
