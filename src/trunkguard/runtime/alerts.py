"""Notifications leaving the runtime, and the one place that knows whether the store is healthy."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from trunkguard.core.failover import Notify
from trunkguard.logs import fields
from trunkguard.notify import Alert, Dispatcher
from trunkguard.store import LeaseLost, StoreError

log = logging.getLogger("trunkguard")


REPAGE_AFTER = 600.0  # a store that fails again within this of its last page is not paged again


class Alerts:
    """Notifications, and the store's health as the runtime sees it.

    A store outage is its own incident (dedup key `<pair>/store`): paged when it starts, resolved on
    the first good call after it ("store answers again after 40 s"). Probing and paging go on
    without the store; acting does not. When the machine wants a swap the store cannot record, that
    is paged once per outage on the pair's incident: "store unreachable for 40 s; <the decision>;
    swap held back until the store returns". A store that keeps failing and recovering (a broken
    table behind a healthy lease) is paged at most once per REPAGE_AFTER.
    """

    def __init__(self, dispatcher: Dispatcher, dedup_key: str, clock: Callable[[], float],
                 context: Callable[[], dict[str, str]], observe: Callable[[str, dict[str, object]], None],
                 incidents: Mapping[str, str] | None = None,
                 group_context: Callable[[str], dict[str, str]] | None = None) -> None:
        """`incidents`: with routing groups, each group's dedup key (its pages are its own incident: one
        group's outage never resolves or repeats another's), and `group_context` what a group's page
        says of it (its carrier and state); a notification of no group, or of the only group, goes
        under `dedup_key` with `context`."""
        self.dispatcher = dispatcher
        self.dedup_key = dedup_key
        self.incidents = dict(incidents or {})
        self._group_context = group_context
        self._clock = clock
        self._context = context
        self._observe = observe
        self._down_since: float | None = None  # the store's outage, as first seen
        self._paged_at = -REPAGE_AFTER  # when an outage was last paged
        self._paged = False  # this outage was paged (so its end is announced)
        self._held: set[str] = set()  # the groups whose swap held back was paged in this outage
        self._held_at: dict[str, float] = {}  # when each group's was last paged

    def store_healthy(self) -> bool:
        """False from a refused store call until the next one succeeds."""
        return self._down_since is None

    def notify(self, notify: Notify, *, incident: str | None = None) -> None:
        log.log(logging.WARNING if notify.severity != "info" else logging.INFO, "notify %s: %s", notify.kind,
                notify.message, extra=fields("notification_posted", kind=notify.kind, severity=notify.severity))
        self._observe("notify", {"kind": notify.kind, "severity": notify.severity, "message": notify.message,
                                 **({"group": notify.group} if notify.group else {})})
        key = incident or self.incidents.get(notify.group) or self.dedup_key
        if notify.group in self.incidents:
            context = {"group": notify.group, **(self._group_context(notify.group) if self._group_context else {})}
        else:
            context = self._context()
        self.dispatcher.post(Alert(notify.kind, notify.severity, notify.message, key, self._clock(), context))

    def store_trouble(self, exc: StoreError, what: str) -> None:
        """A store call failed: page once per outage; the caller does not act on `what`."""
        if isinstance(exc, LeaseLost):
            log.warning("%s: %s", what, exc, extra=fields("lease_lost", doing=what, error=str(exc)))
            return
        now = self._clock()
        if self._down_since is None:
            self._down_since, self._paged, self._held = now, False, set()
            if now - self._paged_at >= REPAGE_AFTER:
                self._paged, self._paged_at = True, now
                self.notify(Notify("store_unreachable", "critical",
                                   f"the store failed ({exc}); not acting on: {what}. Routing is left as it is; "
                                   "probing and paging go on"), incident=self.store_incident)
        else:
            log.warning("store still failing (%s): not acting on: %s", exc, what,
                        extra=fields("store_failing", doing=what, error=str(exc)))

    def held_back(self, sentence: str, group: str = "") -> None:
        """The machine decided a swap the store cannot record: page it once per outage for each routing
        group (on the group's incident), and at most once per REPAGE_AFTER, like the outage itself."""
        now = self._clock()
        if self._down_since is None or group in self._held or now - self._held_at.get(group, -REPAGE_AFTER) \
                < REPAGE_AFTER:
            return
        self._held.add(group)
        self._held_at[group] = now
        seconds = now - self._down_since
        self.notify(Notify("swap_held_back", "critical", f"store unreachable for {seconds:.0f} s; {sentence}; swap "
                                                         "held back until the store returns", group))

    def store_fine(self) -> None:
        """A store call succeeded: the outage, if any, is over."""
        if self._down_since is None:
            return
        seconds = self._clock() - self._down_since
        held = bool(self._held)
        self._down_since, self._held = None, set()
        if self._paged:
            then = "the swap held back is decided again at the next poll" if held else "nothing was held back"
            self.notify(Notify("store_reachable", "info", f"the store answers again after {seconds:.0f} s; "
                                                          f"acting again ({then}); routing was left as it was"),
                        incident=self.store_incident)

    @property
    def store_incident(self) -> str:
        return f"{self.dedup_key}/store"
