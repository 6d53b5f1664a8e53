"""The event trace `trunkguard replay` reads, and the decisions recorded over the same time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from trunkguard.store.database import Database
from trunkguard.store.models import DecisionRow, TraceRow


class TraceRows(Database):
    def trace(self, since: float | None = None, until: float | None = None,
              limit: int = 5_000_000) -> list[tuple[float, str, dict[str, Any]]]:
        with self._tx() as s:
            query = select(TraceRow.at, TraceRow.kind, TraceRow.data).order_by(TraceRow.id)
            if since is not None:
                query = query.where(TraceRow.at >= since)
            if until is not None:
                query = query.where(TraceRow.at <= until)
            return [(r.at, r.kind, r.data) for r in s.execute(query.limit(limit))]

    def prune_trace(self, before: float) -> int:
        with self._tx() as s:
            done = s.execute(delete(TraceRow).where(TraceRow.at < before))
            return int(done.rowcount or 0)  # type: ignore[attr-defined]

    def decisions_between(self, since: float, until: float) -> list[dict[str, Any]]:
        with self._tx() as s:
            rows = s.scalars(select(DecisionRow).where(DecisionRow.at >= since, DecisionRow.at <= until)
                             .order_by(DecisionRow.id)).all()
            return [{"at": r.at, "kind": r.kind, "sentence": r.sentence, "intent_key": r.intent_key} for r in rows]
