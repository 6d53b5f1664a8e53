"""Leadership on the store: take the lease, renew it well inside its TTL, and say when it changes.

The holder is this process (`Identity`: name, host, pid and 48 random bits), never just a host
name: two replicas on one host, or in containers sharing one, are two candidates. Expiry is
judged on the store's clock; this replica counts its own lease from the moment it sent the
request (never later than the store did), so it believes it holds the lease a little less long
than it does. A replica that loses the lease, or starts while another holds it, stays a
candidate and takes it when it lapses (a restart too: at most the TTL later, or at once after a
clean stop, which releases it). Writes check the term inside their own transaction
(store/store.py); `fresh()` tells the actuator whether there is time to act.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from trunkguard.core.failover import Notify
from trunkguard.logs import fields
from trunkguard.runtime.storelink import StoreLink
from trunkguard.store import LeaseLost, LeaseStore, StoreError

log = logging.getLogger("trunkguard")
LAPSE_MARGIN = 0.05  # seconds after another's lease lapses (by the store's clock) before trying to take it


@dataclass(frozen=True)
class Identity:
    """This process among replicas and agents: `name` is configured (or the host's), `holder` unique."""

    name: str
    host: str
    pid: int
    holder: str
    started_at: float

    @classmethod
    def of_this_process(cls, name: str | None = None) -> Identity:
        host = socket.gethostname()
        pid = os.getpid()
        name = name or host
        return cls(name, host, pid, f"{name}/{host}/{pid}/{secrets.token_hex(6)}", time.time())


@dataclass(frozen=True)
class Term:
    """This replica's lease: `term` None while it does not hold it."""

    term: int | None = None
    until: float = 0.0

    def held(self, now: float) -> bool:
        return self.term is not None and now < self.until


class LeaseView(Protocol):
    """What a part that acts or records asks of the lease: the term held (if any), and whether there
    is time left to start a side effect. LeaseKeeper is one; `trunkguard.testing.HeldLease` another."""

    def current(self) -> Term: ...

    def fresh(self, now: float) -> bool: ...


class LeaseKeeper:
    def __init__(self, link: StoreLink[LeaseStore], ttl: float, clock: Callable[[], float], identity: Identity, *,
                 candidate: bool = True) -> None:
        self.link = link
        self.ttl = ttl
        self.renew_every = ttl / 3
        self.identity = identity
        self.holder = identity.holder
        self._candidacy = asyncio.Event()  # set: trying to take the lease (agents never; a cycle once probed)
        if candidate:
            self._candidacy.set()
        self._clock = clock
        self._term = Term()
        self._taking: asyncio.Task[None] | None = None

    def stand(self) -> None:
        """Become a candidate for the lease (a `trunkguard cycle` once every trunk has been probed)."""
        self._candidacy.set()

    def current(self) -> Term:
        return self._term

    def fresh(self, now: float) -> bool:
        """Enough lease left to start a side effect (not within a third of the TTL, or 5 s, of expiry)."""
        t = self._term
        return t.term is not None and t.until - now > min(5.0, self.ttl / 3)

    async def keep(self, stop: asyncio.Event, acquired: Callable[[int], Awaitable[None]],
                   lost: Callable[[str], None], alert: Callable[[Notify], None]) -> None:
        """Take and renew the lease until `stop`: `acquired(term)` on taking it (restore, reconcile),
        `lost(why)` on losing it, `alert` for the lease_lost page. Store trouble is the link's to report."""
        while not stop.is_set():
            if not self._candidacy.is_set():  # an agent for ever; `trunkguard cycle` until its probes are in
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._candidacy.wait())]
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()
                continue
            now = self._clock()  # sent before the store reads its own clock: the lease runs at least this long
            if self._term.term is None:
                wait = self.renew_every
                try:
                    term, left = await self.link.call(self.link.store.try_lease, self.holder, self.ttl,
                                                      doing="taking the lease")
                    if term is None:  # another holds it: try again the moment it lapses, not up to a renewal later
                        wait = min(self.renew_every, left + LAPSE_MARGIN)
                except StoreError as exc:
                    log.error("cannot reach the store to take the lease: %s", exc,
                              extra=fields("lease_store_unreachable", error=str(exc)))
                    term = None
                if term is not None:
                    self._term = Term(term, now + self.ttl)
                    log.info("acting as leader with lease term %d", term, extra=fields("lease_acquired", term=term))
                    # Restoring and reconciling may read the platform for up to `platform.settle`: renewals
                    # go on meanwhile (the restored snapshot's swap in flight blocks any other until then).
                    self._taking = asyncio.create_task(self._take(term, acquired), name="take the lease")
                    wait = self.renew_every
            else:
                try:
                    await self.link.call(self.link.store.renew_lease, self.holder, self._term.term, self.ttl,
                                         doing="renewing the lease")
                    self._term = Term(self._term.term, now + self.ttl)
                except LeaseLost as exc:
                    self._term = Term()
                    alert(Notify("lease_lost", "critical",
                                 f"lost the lease ({exc}): it lapsed or another trunkguard took it, so this one "
                                 "stops acting and stays a candidate, taking the lease again when it is free"))
                    lost(f"lost the lease ({exc})")
                except StoreError:
                    pass  # the link has reported it; the lease runs out on its own if this goes on
                wait = self.renew_every
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def _take(self, term: int, acquired: Callable[[int], Awaitable[None]]) -> None:
        try:
            await acquired(term)
        except StoreError:  # cannot restore or reconcile: do not act on a guess; try again next round
            if self._term.term == term:
                self._term = Term()

    async def release(self) -> None:
        if self._taking is not None and not self._taking.done():
            self._taking.cancel()
            with contextlib.suppress(asyncio.CancelledError, StoreError):
                await self._taking
        term = self._term.term
        self._term = Term()
        if term is not None:
            with contextlib.suppress(StoreError):
                await self.link.call(self.link.store.release_lease, self.holder, term, doing="releasing the lease")
