"""The audit trail: the pair snapshot, decisions with their evidence, and people's actions (with the
ones queued for the next `trunkguard cycle`); and the recorder's batches, one fenced transaction each.

Each routing group has its own snapshot, decisions and actions. A writer names its group (the
"default" group unless told); a reader names one, or None for every group's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.orm import QueryableAttribute, Session

from trunkguard.core.failover import OperatorAction, PairSnapshot
from trunkguard.store.codec import snapshot_from_json
from trunkguard.store.database import Database, table
from trunkguard.store.models import (
    DEFAULT_GROUP,
    CheckRow,
    DecisionRow,
    OperatorActionRow,
    PairStateRow,
    TraceRow,
    check_group,
)


@dataclass
class Batch:
    """What the recorder has not stored yet: decision rows (DecisionRow's columns but `term`; `group`
    the "default" group's when absent), the latest snapshot of the default group (`snapshot`) and of
    any group (`snapshots`, group -> (time, snapshot)), trace events and media check results. Written
    in one transaction, alone or with a swap's intent."""

    decisions: list[dict[str, Any]] = field(default_factory=list)
    snapshot: tuple[float, PairSnapshot] | None = None
    trace: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    snapshots: dict[str, tuple[float, PairSnapshot]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.decisions or self.snapshot or self.snapshots or self.trace or self.checks)

    def latest(self) -> dict[str, tuple[float, PairSnapshot]]:
        """Each group's newest snapshot in the batch: `snapshots`, with `snapshot` as the default group's
        unless `snapshots` holds a newer (or as new) one of it."""
        latest = dict(self.snapshots)
        mine = latest.get(DEFAULT_GROUP)
        if self.snapshot is not None and (mine is None or mine[0] < self.snapshot[0]):
            latest[DEFAULT_GROUP] = self.snapshot
        return latest


class AuditRows(Database):
    def load_snapshot(self, *, group: str = DEFAULT_GROUP) -> PairSnapshot | None:
        """The group's snapshot as last written (None before its first)."""
        with self._tx() as s:
            row = self._pair_row(s, group)
            return None if row is None else snapshot_from_json(row.snapshot)

    def load_snapshots(self) -> dict[str, PairSnapshot]:
        """Every group's snapshot as last written, by group."""
        with self._tx() as s:
            return {r.group: snapshot_from_json(r.snapshot)
                    for r in s.scalars(select(PairStateRow).order_by(PairStateRow.group))}

    def save(self, term: int, now: float, snapshot: PairSnapshot, *, group: str = DEFAULT_GROUP,
             kind: str | None = None, sentence: str = "", evidence: dict[str, Any] | None = None,
             intent_key: str | None = None) -> None:
        """Persist the group's snapshot and, when `kind` is given, one decision row of the group, in one
        fenced transaction."""
        check_group(group)
        with self._tx() as s:
            self._fence(s, term)
            self._put_snapshot(s, term, now, snapshot, group=group)
            if kind is not None:
                s.add(DecisionRow(group=group, at=now, kind=kind, sentence=sentence, state=snapshot.state.value,
                                  active=snapshot.active, intent_key=intent_key, evidence=evidence or {},
                                  term=term))

    def history(self, limit: int = 50, *, group: str | None = None) -> list[dict[str, Any]]:
        """The newest `limit` decisions (of the group; None: of every group), oldest first."""
        with self._tx() as s:
            rows = s.scalars(select(DecisionRow).where(*of_group(DecisionRow.group, group))
                             .order_by(DecisionRow.id.desc()).limit(limit)).all()
            return [_decision(r) for r in reversed(rows)]

    def history_page(self, limit: int = 50, page: int = 1, since: float | None = None, *,
                     group: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """Page `page` of the decisions (of the group; None: of every group) made at or after `since`
        (every one without it), `limit` to a page, counted back from the newest (page 1: the newest
        `limit`, as `history`), each page oldest first, by the decisions' time; with how many there are,
        read in the same transaction."""
        with self._tx() as s:
            after = [*of_group(DecisionRow.group, group), *([] if since is None else [DecisionRow.at >= since])]
            total = s.scalar(select(func.count()).select_from(DecisionRow).where(*after)) or 0
            rows = s.scalars(select(DecisionRow).where(*after).order_by(DecisionRow.at.desc(), DecisionRow.id.desc())
                             .offset((page - 1) * limit).limit(limit)).all()
            return [_decision(r) for r in reversed(rows)], total

    def stored_view(self, *, group: str = DEFAULT_GROUP) -> dict[str, Any] | None:
        """The group's snapshot as last written, with its time and term (for status without the daemon)."""
        with self._tx() as s:
            row = self._pair_row(s, group)
            return None if row is None else _view(row)

    def stored_views(self) -> dict[str, dict[str, Any]]:
        """`stored_view` of every group, by group."""
        with self._tx() as s:
            return {r.group: _view(r) for r in s.scalars(select(PairStateRow).order_by(PairStateRow.group))}

    def write_batch(self, term: int, batch: Batch) -> None:
        """The recorder's batch in one fenced transaction."""
        with self._tx() as s:
            self._fence(s, term)
            self._put_batch(s, term, batch)

    def _put_batch(self, s: Session, term: int, batch: Batch) -> None:
        for group, (at, snapshot) in batch.latest().items():
            self._put_snapshot(s, term, at, snapshot, group=group)
        conn = s.connection()  # Core executemany: several times cheaper than the ORM's bulk insert
        if batch.decisions:  # every row with the same keys (executemany's rule): each names its group
            rows = [{**d, "group": check_group(d.get("group", DEFAULT_GROUP)), "term": term} for d in batch.decisions]
            conn.execute(insert(table(DecisionRow)), rows)
        if batch.trace:
            conn.execute(insert(table(TraceRow)), [{"at": at, "kind": kind, "data": data, "term": term}
                                                   for at, kind, data in batch.trace])
        if batch.checks:
            conn.execute(insert(table(CheckRow)), [{**c, "term": term} for c in batch.checks])

    def record_action(self, term: int, action: OperatorAction, result: str, *, group: str = DEFAULT_GROUP) -> None:
        """A person's action on the group, as carried out (fenced)."""
        check_group(group)
        with self._tx() as s:
            self._fence(s, term)
            s.add(OperatorActionRow(group=group, kind=action.kind, who=action.who, why=action.why, at=action.at,
                                    result=result, term=term))

    QUEUED = "queued for the next cycle"

    def queue_action(self, action: OperatorAction, *, group: str = DEFAULT_GROUP) -> None:
        """A person's action on the group for the next `trunkguard cycle` (no daemon runs to take it now).
        Unfenced: nothing is done by storing it; the cycle that holds the lease carries it out."""
        check_group(group)
        with self._tx() as s:
            s.add(OperatorActionRow(group=group, kind=action.kind, who=action.who, why=action.why, at=action.at,
                                    result=self.QUEUED, term=0))

    def queued_actions(self, *, group: str = DEFAULT_GROUP) -> list[tuple[int, OperatorAction]]:
        """The group's queued actions (the default group's: the one pair a cycle before groups acts on),
        oldest first, with their row ids for `took_queued`."""
        return [(row_id, action) for row_id, _, action in self.queued_actions_of(group)]

    def queued_actions_of(self, group: str | None = None) -> list[tuple[int, str, OperatorAction]]:
        """The queued actions of the group (None: of every group), oldest first: row id, group, action."""
        with self._tx() as s:
            rows = s.scalars(select(OperatorActionRow).where(OperatorActionRow.result == self.QUEUED,
                                                             *of_group(OperatorActionRow.group, group))
                             .order_by(OperatorActionRow.id)).all()
            return [(r.id, r.group, OperatorAction(r.kind, r.who, r.why, r.at,  # type: ignore[arg-type]
                                                     group=r.group))
                    for r in rows]

    def took_queued(self, term: int, row_id: int, result: str) -> None:
        """The cycle carried a queued action out (fenced: only the lease holder takes it)."""
        with self._tx() as s:
            self._fence(s, term)
            s.execute(update(OperatorActionRow).where(OperatorActionRow.id == row_id,
                                                      OperatorActionRow.result == self.QUEUED)
                      .values(result=result, term=term))

    def actions(self, limit: int = 50, *, group: str | None = None) -> list[dict[str, Any]]:
        """The newest `limit` people's actions (on the group; None: on every group), oldest first."""
        with self._tx() as s:
            rows = s.scalars(select(OperatorActionRow).where(*of_group(OperatorActionRow.group, group))
                             .order_by(OperatorActionRow.id.desc()).limit(limit)).all()
            return [{"group": r.group, "kind": r.kind, "who": r.who, "why": r.why, "at": r.at, "result": r.result,
                     "used_at": r.used_at, "used_by": r.used_by} for r in reversed(rows)]


def of_group(column: QueryableAttribute[str], group: str | None) -> list[ColumnElement[bool]]:
    """The WHERE clause for one group's rows (None: none, every group's)."""
    return [] if group is None else [column == group]


def _decision(r: DecisionRow) -> dict[str, Any]:
    return {"id": r.id, "group": r.group, "at": r.at, "kind": r.kind, "sentence": r.sentence, "state": r.state,
            "active": r.active, "intent_key": r.intent_key, "evidence": r.evidence, "term": r.term}


def _view(r: PairStateRow) -> dict[str, Any]:
    return {"snapshot": snapshot_from_json(r.snapshot), "updated_at": r.updated_at, "term": r.term}
