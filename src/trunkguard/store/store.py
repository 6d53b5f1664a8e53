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

from trunkguard.errors import LeaseLost, StoreError
from trunkguard.store.audit import AuditRows, Batch
from trunkguard.store.checks import CheckRows
from trunkguard.store.database import Database, engine_url
from trunkguard.store.intents import IntentRecord, IntentRows, IntentStatus
from trunkguard.store.leases import LeaseRows
from trunkguard.store.trace import TraceRows


class Store(LeaseRows, IntentRows, AuditRows, CheckRows, TraceRows):
    """Every protocol of store/protocols.py on one database, as the composition root (app.py) and the
    commands open it. Each runtime part is handed it as the one protocol it needs."""


__all__ = ["Batch", "Database", "IntentRecord", "IntentStatus", "LeaseLost", "Store", "StoreError", "engine_url"]
