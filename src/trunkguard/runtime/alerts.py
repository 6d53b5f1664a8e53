"""Notifications leaving the runtime, and the one place that knows whether the store is healthy."""

from __future__ import annotations

import logging
from collections.abc import Callable

from trunkguard.core.failover import Notify
from trunkguard.notify import Alert, Dispatcher
from trunkguard.store import LeaseLost, StoreError

log = logging.getLogger("trunkguard")


class Alerts:
    def __init__(self, dispatcher: Dispatcher, dedup_key: str, clock: Callable[[], float],
                 context: Callable[[], dict[str, str]], observe: Callable[[str, dict[str, object]], None]) -> None:
        self.dispatcher = dispatcher
        self.dedup_key = dedup_key
        self._clock = clock
        self._context = context
        self._observe = observe
        self._store_ok = True

    def store_healthy(self) -> bool:
        """False from a refused write until the next one succeeds."""
        return self._store_ok

    def notify(self, notify: Notify) -> None:
        log.log(logging.WARNING if notify.severity != "info" else logging.INFO, "notify %s: %s", notify.kind,
                notify.message)
        self._observe("notify", {"kind": notify.kind, "severity": notify.severity, "message": notify.message})
        self.dispatcher.post(Alert(notify.kind, notify.severity, notify.message, self.dedup_key, self._clock(),
                                   self._context()))

    def store_trouble(self, exc: StoreError, what: str) -> None:
        """A write was refused: alert once per outage; the caller does not act on `what`."""
        if isinstance(exc, LeaseLost):
            log.warning("%s: %s", what, exc)
            return
        if self._store_ok:
            self.notify(Notify("store_unreachable", "critical",
                               f"the store refused a write ({exc}); not acting on: {what}. Routing is left as it is."))
        self._store_ok = False

    def store_fine(self) -> None:
        self._store_ok = True
