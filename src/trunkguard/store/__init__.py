"""The store: snapshot, audit trail, intents, approvals and the lease, in SQLite or PostgreSQL."""

from trunkguard.store.store import IntentRecord, IntentStatus, LeaseLost, Store, StoreError

__all__ = ["IntentRecord", "IntentStatus", "LeaseLost", "Store", "StoreError"]
