"""The database under every store protocol: the engine, its sessions, migrations, the store's clock
and the fence. One transaction per call; database errors become StoreError at this boundary.

- Fencing: every write that records or enables a side effect checks, inside its transaction, that
  the lease still has the writer's term; a stale term raises LeaseLost and writes nothing.
- Nothing is created or migrated by opening (`Database(url)`): only `open` does, for the processes
  that write (`run`, `cycle`, `agent`, the check commands).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self, cast

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, Table, create_engine, event, inspect, make_url, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from trunkguard.core.failover import PairSnapshot
from trunkguard.errors import LeaseLost, StoreError
from trunkguard.store.codec import snapshot_to_json
from trunkguard.store.models import DEFAULT_GROUP, Base, Lease, PairStateRow, check_group

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x7472756E6B67  # "trunkg": the advisory lock migrations take on PostgreSQL


def engine_url(url: str, *, create: bool = False) -> str:
    """`postgresql://` uses psycopg 3 unless a driver is named; with `create`, a SQLite file's folder is made."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if create and url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return url


class Database:
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
    def open(cls, url: str, **kw: Any) -> Self:
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

    def clock(self) -> float:
        """The store's own time (seconds since the epoch): what leases and heartbeats are judged by."""
        with self._tx() as s:
            return self._now(s)

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
    def _pair_row(s: Session, group: str) -> PairStateRow | None:
        return s.scalars(select(PairStateRow).where(PairStateRow.group == group)).first()

    @classmethod
    def _put_snapshot(cls, s: Session, term: int, now: float, snapshot: PairSnapshot, *,
                      group: str = DEFAULT_GROUP) -> None:
        """The group's row, written over or added (its id from the database), unless the row holds a newer
        snapshot (the recorder's batch and each group's swap write snapshots in their own order). Called
        in fenced transactions only: the lease row's lock orders two writers, so no two add one group's row."""
        data = snapshot_to_json(snapshot)
        row = cls._pair_row(s, check_group(group))
        if row is None:
            s.add(PairStateRow(group=group, snapshot=data, term=term, updated_at=now))
        elif row.updated_at <= now or row.term < term:  # a new leader's word counts, whatever its clock
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


def table(model: type[Base]) -> Table:
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
