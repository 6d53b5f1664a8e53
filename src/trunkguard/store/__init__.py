"""The store: snapshot, audit trail, intents, approvals and the lease, in SQLite or PostgreSQL."""

from trunkguard.errors import LeaseLost, StoreError
from trunkguard.store.audit import Batch
from trunkguard.store.intents import IntentRecord, IntentStatus
from trunkguard.store.protocols import AuditStore, CheckStore, IntentStore, LeaseStore, RecorderStore, TraceStore
from trunkguard.store.store import Store

__all__ = ["AuditStore", "Batch", "CheckStore", "IntentRecord", "IntentStatus", "IntentStore", "LeaseLost",
           "LeaseStore", "RecorderStore", "Store", "StoreError", "TraceStore"]
