"""The lease (which replica acts, judged on the store's clock) and the members (every replica and
agent heard of, with its vantage's view)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trunkguard.errors import LeaseLost
from trunkguard.store.database import Database
from trunkguard.store.models import Lease, MemberRow


class LeaseRows(Database):
    def acquire_lease(self, holder: str, ttl: float, now: float | None = None) -> int | None:
        """Take the lease (a new term) or renew our own. None while another holder's is unexpired.
        Expiry is judged on the store's clock (`now` only in tests): the replicas' clocks may differ."""
        return self.try_lease(holder, ttl, now)[0]

    def try_lease(self, holder: str, ttl: float, now: float | None = None) -> tuple[int | None, float]:
        """`acquire_lease`, with the seconds left on another holder's lease when it is not taken (0 if
        taken): a candidate tries again right when it lapses."""
        with self._tx() as s:
            now = self._now(s) if now is None else now
            row = s.get(Lease, self.lease_name, with_for_update=True)
            if row is None:  # the first lease: replicas starting together may all insert it; one wins
                try:
                    with s.begin_nested():
                        s.add(Lease(name=self.lease_name, holder=holder, term=1, expires_at=now + ttl))
                    return 1, 0.0
                except IntegrityError:
                    return None, 0.0  # another took it a moment ago: ask again at once
            if row.holder == holder and row.expires_at > now:
                row.expires_at = now + ttl
                return row.term, 0.0
            if row.expires_at > now:
                return None, row.expires_at - now
            row.holder, row.term, row.expires_at = holder, row.term + 1, now + ttl
            return row.term, 0.0

    def renew_lease(self, holder: str, term: int, ttl: float, now: float | None = None) -> None:
        """Extend our own term by `ttl` from the store's now. LeaseLost once it has lapsed, even if
        nobody took it yet: a replica that was stopped past its expiry must take it again (a new
        term) rather than carry on with writes it started before."""
        with self._tx() as s:
            now = self._now(s) if now is None else now
            done = s.execute(update(Lease).where(Lease.name == self.lease_name, Lease.holder == holder,
                                                 Lease.term == term, Lease.expires_at > now)
                             .values(expires_at=now + ttl))
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise LeaseLost(f"the lease moved on from term {term}, or lapsed")

    RELEASED = 0.0  # the expiry a lease given up at a clean stop is stored with: the next candidate need not wait

    def release_lease(self, holder: str, term: int) -> None:
        with self._tx() as s:
            s.execute(update(Lease).where(Lease.name == self.lease_name, Lease.holder == holder,
                                          Lease.term == term).values(expires_at=self.RELEASED))

    def lease(self) -> dict[str, Any] | None:
        """The lease row, with `left_s`: seconds to its expiry on the store's clock (negative: lapsed), and
        `released`: given up at a clean stop (then `expires_at` is None and `left_s` 0)."""
        with self._tx() as s:
            return self._lease(s, self._now(s))

    def _lease(self, s: Session, now: float) -> dict[str, Any] | None:
        row = s.get(Lease, self.lease_name)
        if row is None:
            return None
        if row.expires_at <= self.RELEASED:
            return {"holder": row.holder, "term": row.term, "expires_at": None, "left_s": 0.0, "released": True}
        return {"holder": row.holder, "term": row.term, "expires_at": row.expires_at,
                "left_s": round(row.expires_at - now, 3), "released": False}

    # ---- replicas and vantage agents ------------------------------------------------------------

    def heartbeat(self, holder: str, *, name: str, kind: str, host: str, pid: int, started_at: float,
                  view: dict[str, Any] | None = None, forget_after: float = 86400.0) -> dict[str, Any]:
        """This process is alive (and its vantage sees `view`): its row stamped with the store's now.
        Returns, from the same transaction, the store's `now`, every member (`members()`) and the
        `lease` (`lease()`). Rows not heard of for `forget_after` are dropped."""
        with self._tx() as s:
            now = self._now(s)
            row = s.get(MemberRow, holder)
            if row is None:
                s.add(MemberRow(holder=holder, name=name, kind=kind, host=host, pid=pid, started_at=started_at,
                                seen_at=now, view=view))
            else:
                row.seen_at, row.name, row.kind = now, name, kind
                if view is not None:
                    row.view = view
            s.execute(delete(MemberRow).where(MemberRow.seen_at < now - forget_after))
            s.flush()
            return {"now": now, "members": self._members(s, now), "lease": self._lease(s, now)}

    def members(self) -> tuple[float, list[dict[str, Any]]]:
        """The store's now and every replica and agent heard of, newest first, with `age_s`."""
        with self._tx() as s:
            now = self._now(s)
            return now, self._members(s, now)

    @staticmethod
    def _members(s: Session, now: float) -> list[dict[str, Any]]:
        rows = s.scalars(select(MemberRow).order_by(MemberRow.seen_at.desc())).all()
        return [{"holder": r.holder, "name": r.name, "kind": r.kind, "host": r.host, "pid": r.pid,
                 "started_at": r.started_at, "seen_at": r.seen_at, "age_s": round(now - r.seen_at, 3),
                 "view": r.view} for r in rows]

    def forget_member(self, holder: str) -> None:
        with self._tx() as s:
            s.execute(delete(MemberRow).where(MemberRow.holder == holder))
