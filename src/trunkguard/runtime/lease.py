"""Leadership on the store: take the lease, renew it well inside its TTL, and say when it changes.

The holder name is this host's (a restarted daemon takes its own lease back at once with a new
term, fencing its old process). A replica that loses the lease stays a candidate and takes it again
once it lapses. Writes check the term inside their own transaction (store/store.py); this part
only keeps the term and its expiry, and `fresh()` tells the actuator whether there is time to act.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from trunkguard.core.failover import Notify
from trunkguard.runtime.storelink import StoreLink
from trunkguard.store import LeaseLost, StoreError

log = logging.getLogger("trunkguard")


@dataclass(frozen=True)
class Term:
    """This replica's lease: `term` None while it does not hold it."""

    term: int | None = None
    until: float = 0.0

    def held(self, now: float) -> bool:
        return self.term is not None and now < self.until


class LeaseKeeper:
    def __init__(self, link: StoreLink, ttl: float, renew_every: float, clock: Callable[[], float], *,
                 holder: str | None = None) -> None:
        self.link = link
        self.ttl = ttl
        self.renew_every = renew_every
        self.holder = holder or socket.gethostname()
        self._clock = clock
        self._term = Term()

    def current(self) -> Term:
        return self._term

    def fresh(self, now: float) -> bool:
        """Enough lease left to start a side effect (not within a third of the TTL, or 5 s, of expiry)."""
        t = self._term
        return t.term is not None and t.until - now > min(5.0, self.ttl / 3)

    async def keep(self, stop: asyncio.Event, acquired: Callable[[int], Awaitable[None]],
                   lost: Callable[[str], None], alert: Callable[[Notify], None],
                   trouble: Callable[[StoreError, str], None], fine: Callable[[], None]) -> None:
        first = True
        while not stop.is_set():
            now = self._clock()
            if self._term.term is None:
                try:
                    term = await self.link.call(self.link.store.acquire_lease, self.holder, self.ttl, now,
                                                restart=first)
                    fine()
                except StoreError as exc:
                    log.error("cannot reach the store to take the lease: %s", exc)
                    trouble(exc, "taking the lease")
                    term = None
                first = False
                if term is not None:
                    self._term = Term(term, now + self.ttl)
                    log.info("acting as leader with lease term %d", term)
                    try:
                        await acquired(term)
                    except StoreError as exc:  # cannot restore or reconcile: do not act on a guess
                        self._term = Term()
                        trouble(exc, "restoring the stored state after taking the lease")
            else:
                try:
                    await self.link.call(self.link.store.renew_lease, self.holder, self._term.term, self.ttl, now)
                    self._term = Term(self._term.term, now + self.ttl)
                    fine()
                except LeaseLost as exc:
                    self._term = Term()
                    alert(Notify("lease_lost", "critical",
                                 f"lost the lease ({exc}): another trunkguard acts on this store now, so this one "
                                 "stops acting and stays a candidate, taking the lease again if it lapses"))
                    lost(f"lost the lease ({exc})")
                except StoreError as exc:
                    trouble(exc, "renewing the lease")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.renew_every)

    async def release(self) -> None:
        term = self._term.term
        self._term = Term()
        if term is not None:
            with contextlib.suppress(StoreError):
                await self.link.call(self.link.store.release_lease, self.holder, term)
