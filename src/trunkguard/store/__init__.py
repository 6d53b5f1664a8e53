"""The store: snapshot, audit trail, intents, approvals and the lease, in SQLite or PostgreSQL."""

from trunkguard.store.store import IntentStatus, LeaseLost, Store, StoreError

__all__ = ["IntentStatus", "LeaseLost", "Store", "StoreError"]
