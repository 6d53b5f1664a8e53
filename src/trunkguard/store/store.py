"""The store behind the engine: SQLAlchemy 2 over SQLite (default) or PostgreSQL.

Calls are synchronous and short (one transaction each); the runtime runs them on one worker thread
with a deadline so the event loop never waits on the disk. Rules kept here:

- Fencing: every write that records or enables a side effect checks, inside its transaction,
  that the lease still has the writer's term; a stale term raises LeaseLost and writes nothing.
- An intent row is committed before the platform is touched, and finished with its outcome after
  the read-back. At start-up the runtime reconciles any intent still PENDING by reading the
  platform (see runtime/actuator.py), never by applying it again.
- An approval is single use: the swap that consumes it marks it used.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    Engine,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from trunkguard.core.failover import OperatorAction, PairSnapshot, Swap
from trunkguard.errors import TrunkguardError
from trunkguard.store.codec import snapshot_from_json, snapshot_to_json
from trunkguard.store.models import (
    Base,
    CheckRow,
    DecisionRow,
    IntentRow,
    Lease,
    MemberRow,
    OperatorActionRow,
    PairStateRow,
    TraceRow,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x7472756E6B67  # "trunkg": the advisory lock migrations take on PostgreSQL


class StoreError(TrunkguardError):
    """The store could not be reached or refused a write."""


class LeaseLost(StoreError):
    """Another replica holds the lease now (or it expired): this one must stop acting."""


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

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "to": self.to_role, "trunk_group_id": self.trunk_group_id, "trigger": self.trigger,
                "reason": self.reason, "status": self.status.value, "outcome": self.outcome,
                "created_at": self.created_at, "finished_at": self.finished_at, "term": self.term}


def _intent(r: IntentRow) -> IntentRecord:
    return IntentRecord(r.key, r.to_role, r.trunk_group_id, r.trigger, r.reason, IntentStatus(r.status),
                        r.outcome, r.prior, r.after, r.created_at, r.finished_at, r.term)


def engine_url(url: str, *, create: bool = False) -> str:
    """`postgresql://` uses psycopg 3 unless a driver is named; with `create`, a SQLite file's folder is made."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if create and url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return url


class Store:
    def __init__(self, url: str, *, lease_name: str = "trunkguard", create: bool = False) -> None:
        """A store that exists already, as it is: nothing is created or migrated (`status`, `history`,
        `replay`, a queued action). StoreError when the SQLite file does not exist or the database has no
        trunkguard tables. `create` (what `Store.open` passes): no such check; the caller migrates."""
        self.url = url
        self.lease_name = lease_name
        try:
            self.engine: Engine = create_engine(engine_url(url, create=create), pool_pre_ping=True)
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            raise StoreError(f"storage.url {url!r}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.engine.dialect.name == "postgresql":
            event.listen(self.engine, "connect", _postgres_limits)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        if not create:
            try:
                self._require_schema()
            except StoreError:
                self.engine.dispose()
                raise

    @classmethod
    def open(cls, url: str, **kw: Any) -> Store:
        """Connect and bring the schema up to date (creates a new SQLite file, and its folder, on first run)."""
        store = cls(url, create=True, **kw)
        store.migrate()
        return store

    def _require_schema(self) -> None:
        """The store is there and trunkguard's: checked without creating anything (SQLite would make an
        empty file on connecting to a missing one), and said in words rather than as a driver error."""
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:" \
                and not database.startswith("file:") and not Path(database).is_file():
            raise StoreError(f"store {self.safe_url} does not exist")
        try:
            with self.engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store at {self.safe_url}: {_short(exc)}") from None
        ours = set(Base.metadata.tables)
        if "alembic_version" not in tables or not tables & ours:
            raise StoreError(f"store {self.safe_url} has no trunkguard tables (is storage.url right?)")
        missing = sorted(ours - tables)
        if missing:
            raise StoreError(f"store {self.safe_url} lacks the tables {', '.join(missing)} (an older trunkguard's "
                             "schema): `trunkguard run` or `trunkguard cycle` brings it up to date")

    def migrate(self) -> None:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self._migration_lock():
            try:
                with self.engine.begin() as conn:
                    if self.engine.dialect.name == "postgresql":
                        # Replicas starting together would each create the tables: one migrates at a time
                        # (the lock ends with the transaction), the others then find the schema at head.
                        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
            except SQLAlchemyError as exc:
                raise StoreError(f"cannot prepare the store at {self.safe_url}: {_short(exc)}") from None

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """SQLite has no advisory lock, and its DDL commits table by table: two processes migrating a new
        file at once (an agent, a person's `trunkguard sweep`) take turns on a lock file beside it.

        The file is removed once migrated, by its holder while it still holds the lock. A process that
        opened the file before that waits on the removed file's lock, so once it holds a lock it checks
        that the file it locked is still the one at the path (same inode), and starts again otherwise:
        only the holder of the lock on the file at the path migrates."""
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            yield
            return
        path = f"{database}.migrate-lock"
        while True:
            lock = open(path, "a+b")  # noqa: SIM115 - held across the yield, closed below
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if _same_file(lock.fileno(), path):
                    try:
                        yield
                    finally:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(path)
                        fcntl.flock(lock, fcntl.LOCK_UN)
                    return
            finally:
                lock.close()  # a lock on a removed file: released here, and tried again

    @property
    def safe_url(self) -> str:
        """storage.url as configured (not the driver's URL), its password hidden: for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    # ---- the lease ---------------------------------------------------------------------------

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

    def clock(self) -> float:
        """The store's own time (seconds since the epoch): what leases and heartbeats are judged by."""
        with self._tx() as s:
            return self._now(s)

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

    # ---- snapshot and decisions ------------------------------------------------------------

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
                                  active=snapshot.active.value, intent_key=intent_key, evidence=evidence or {},
                                  term=term))

    def history(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest `limit` decisions, oldest first."""
        with self._tx() as s:
            rows = s.scalars(select(DecisionRow).order_by(DecisionRow.id.desc()).limit(limit)).all()
            return [{"id": r.id, "at": r.at, "kind": r.kind, "sentence": r.sentence, "state": r.state,
                     "active": r.active, "intent_key": r.intent_key, "evidence": r.evidence, "term": r.term}
                    for r in reversed(rows)]

    def stored_view(self) -> dict[str, Any] | None:
        """The pair snapshot as last written, with its time and term (for status without the daemon)."""
        with self._tx() as s:
            row = s.get(PairStateRow, 1)
            if row is None:
                return None
            return {"snapshot": snapshot_from_json(row.snapshot), "updated_at": row.updated_at, "term": row.term}

    def write_batch(self, term: int, *, decisions: list[dict[str, Any]] | None = None,
                    snapshot: tuple[float, PairSnapshot] | None = None,
                    trace: list[tuple[float, str, dict[str, Any]]] | None = None,
                    checks: list[dict[str, Any]] | None = None) -> None:
        """The recorder's batch in one fenced transaction: decision rows (dicts of DecisionRow's
        columns but `term`), the latest snapshot, trace events and media check results."""
        with self._tx() as s:
            self._fence(s, term)
            if snapshot is not None:
                self._put_snapshot(s, term, snapshot[0], snapshot[1])
            conn = s.connection()  # Core executemany: several times cheaper than the ORM's bulk insert
            if decisions:
                conn.execute(insert(_table(DecisionRow)), [{**d, "term": term} for d in decisions])
            if trace:
                conn.execute(insert(_table(TraceRow)), [{"at": at, "kind": kind, "data": data, "term": term}
                                                       for at, kind, data in trace])
            if checks:
                conn.execute(insert(_table(CheckRow)), [{**c, "term": term} for c in checks])

    # ---- check results -------------------------------------------------------------------------

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

    # ---- the event trace -----------------------------------------------------------------------

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

    # ---- intents -----------------------------------------------------------------------------

    def begin_intent(self, term: int, now: float, swap: Swap, trunk_group_id: str, snapshot: PairSnapshot,
                     *, sentence: str, evidence: dict[str, Any]) -> None:
        """Commit the intent, the snapshot that has it in flight and the decision, before acting."""
        with self._tx() as s:
            self._fence(s, term)
            s.add(IntentRow(key=swap.key, to_role=swap.to.value, trunk_group_id=trunk_group_id,
                            trigger=swap.trigger, reason=swap.reason, status=IntentStatus.PENDING.value,
                            outcome="", created_at=now, term=term))
            self._put_snapshot(s, term, now, snapshot)
            s.add(DecisionRow(at=now, kind="swap", sentence=sentence, state=snapshot.state.value,
                              active=snapshot.active.value, intent_key=swap.key, evidence=evidence, term=term))
            if swap.trigger == "operator" and swap.to.value == "primary":
                approval = s.scalars(select(OperatorActionRow).where(
                    OperatorActionRow.kind == "failback", OperatorActionRow.used_at.is_(None))
                    .order_by(OperatorActionRow.id.desc()).limit(1)).first()
                if approval is not None:
                    approval.used_at, approval.used_by = now, swap.key

    def note_prior(self, term: int, key: str, prior: dict[str, Any]) -> None:
        """The routing as read just before the write: kept for reversal and for the audit."""
        with self._tx() as s:
            self._fence(s, term)
            s.execute(update(IntentRow).where(IntentRow.key == key).values(prior=prior))

    def finish_intent(self, term: int, key: str, status: IntentStatus, outcome: str, now: float,
                      after: dict[str, Any] | None = None) -> None:
        with self._tx() as s:
            self._fence(s, term)
            s.execute(update(IntentRow).where(IntentRow.key == key).values(
                status=status.value, outcome=outcome, after=after, finished_at=now))

    def intents(self, *, status: IntentStatus | None = None, key: str | None = None,
                limit: int = 100) -> list[IntentRecord]:
        """The newest `limit` intents (with this status or key), oldest first."""
        with self._tx() as s:
            query = select(IntentRow).order_by(IntentRow.id.desc())
            if status is not None:
                query = query.where(IntentRow.status == status.value)
            if key is not None:
                query = query.where(IntentRow.key == key)
            rows = list(reversed(s.scalars(query.limit(limit)).all()))
            return [_intent(r) for r in rows]

    def last_intent(self, *, to_role: str, statuses: tuple[IntentStatus, ...]) -> IntentRecord | None:
        """The newest intent to `to_role` with one of `statuses`."""
        with self._tx() as s:
            r = s.scalars(select(IntentRow).where(IntentRow.to_role == to_role,
                                                  IntentRow.status.in_([x.value for x in statuses]))
                          .order_by(IntentRow.id.desc()).limit(1)).first()
            return None if r is None else _intent(r)

    # ---- operator actions -------------------------------------------------------------------

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

    # ---- helpers -----------------------------------------------------------------------------

    def _tx(self) -> _Transaction:
        return _Transaction(self._session)

    def _now(self, s: Session) -> float:
        """The database server's clock, as seconds since the epoch (SQLite: this host's)."""
        if self.engine.dialect.name == "postgresql":
            return float(s.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
        return time.time()

    def _fence(self, s: Session, term: int) -> None:
        row = s.get(Lease, self.lease_name, with_for_update=True)
        if row is None or row.term != term:
            raise LeaseLost(f"write refused: lease term {term} is stale (now {row.term if row else 'none'})")

    @staticmethod
    def _put_snapshot(s: Session, term: int, now: float, snapshot: PairSnapshot) -> None:
        data = snapshot_to_json(snapshot)
        row = s.get(PairStateRow, 1)
        if row is None:
            s.add(PairStateRow(id=1, snapshot=data, term=term, updated_at=now))
        else:
            row.snapshot, row.term, row.updated_at = data, term, now


class _Transaction:
    """A session in one transaction; database errors become StoreError at this boundary."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._session: Session | None = None

    def __enter__(self) -> Session:
        self._session = self._factory()
        self._session.begin()
        return self._session

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        session = self._session
        assert session is not None
        try:
            if exc_type is None:
                session.commit()
            else:
                session.rollback()
        except SQLAlchemyError as err:
            session.rollback()
            raise StoreError(f"store write failed: {_short(err)}") from None
        finally:
            session.close()
        if isinstance(exc, SQLAlchemyError):
            raise StoreError(f"store error: {_short(exc)}") from None


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _same_file(fd: int, path: str) -> bool:
    """The open file `fd` is the one at `path` now (not removed, nor replaced by a new one)."""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300]


def _postgres_limits(dbapi_conn: Any, _record: Any) -> None:
    """A replica frozen inside a transaction (SIGSTOP, a paused VM) must not hold the lease row's
    lock for ever: the server ends such a transaction after 2 s idle. Every transaction here is a
    few statements sent back to back, so none idles that long while its process runs. A lock
    waited for more than 2 s is an error the caller retries, not a hang."""
    cursor = dbapi_conn.cursor()
    cursor.execute("SET idle_in_transaction_session_timeout = 2000")
    cursor.execute("SET lock_timeout = 2000")
    cursor.close()
    dbapi_conn.commit()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
