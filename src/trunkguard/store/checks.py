"""Readiness check results (sweep, certificates, parity, media), newest per kind: the gates read them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from trunkguard.store.database import Database
from trunkguard.store.models import CheckRow


class CheckRows(Database):
    def save_check(self, check: str, carrier: str, ok: bool, at: float, summary: str, result: dict[str, Any], *,
                   trunk: str | None = None, term: int | None = None) -> None:
        """A check's outcome. With `term` (the daemon's re-checks) the write is fenced; without it
        (a `trunkguard sweep` run by a person) it is recorded as observed outside the daemon."""
        with self._tx() as s:
            if term is not None:
                self._fence(s, term)
            s.add(CheckRow(check=check, carrier=carrier, trunk=trunk, ok=ok, at=at, summary=summary, result=result,
                           term=term))

    def latest_checks(self, carrier: str | None = None) -> dict[str, dict[str, Any]]:
        """The newest result of each check kind (of one carrier, when given), by kind."""
        with self._tx() as s:
            newest = select(CheckRow.check, func.max(CheckRow.id).label("id")).group_by(CheckRow.check)
            if carrier is not None:
                newest = newest.where(CheckRow.carrier == carrier)
            ids = [row.id for row in s.execute(newest)]
            rows = s.scalars(select(CheckRow).where(CheckRow.id.in_(ids))).all() if ids else []
            return {r.check: {"check": r.check, "carrier": r.carrier, "trunk": r.trunk, "ok": r.ok, "at": r.at,
                              "summary": r.summary, "result": r.result, "term": r.term} for r in rows}
