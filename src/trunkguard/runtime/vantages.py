"""Replicas and vantages on the store: each process heartbeats its row with its vantage's view, and
reads everyone's, every `vantages.report_every`.

One store transaction a round (store.heartbeat): this process's row stamped with the store's clock,
then every member's row and the lease, read back. The other vantages' views go to the machine as
one VantagesRead, their times moved onto this process's clock by their age on the store's clock
(so no two hosts' clocks are ever compared). `roll()` is the latest round as a frozen value for
the status: who is alive, who leads, with which term.

Its own thread to the store: a heartbeat never waits behind the recorder's batches, and a hung
store delays no write of the runtime's. A store that does not answer makes the round fail
quietly (the lease keeper pages store outages); the views then age until they no longer count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trunkguard.core.events import Event, VantagesRead
from trunkguard.core.vantage import VantageView
from trunkguard.logs import fields
from trunkguard.runtime.lease import Identity
from trunkguard.runtime.storelink import StoreLink
from trunkguard.store import LeaseStore, StoreError

log = logging.getLogger("trunkguard")


@dataclass(frozen=True)
class Member:
    """A replica or agent as the last round read it. `age`: seconds since the store heard of it."""

    name: str
    kind: str
    holder: str
    host: str
    pid: int
    age: float
    started_at: float
    view: VantageView | None = None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "holder": self.holder, "host": self.host, "pid": self.pid,
                "age_s": round(self.age, 2), "started_at": self.started_at,
                "view": None if self.view is None else self.view.as_json()}


@dataclass(frozen=True)
class Roll:
    """The latest round: every member, the lease's holder and term, and when it was read (local clock)."""

    members: tuple[Member, ...] = ()
    leader: str | None = None       # the lease holder's identity
    term: int | None = None
    lease_left: float | None = None  # seconds to the lease's expiry on the store's clock
    at: float | None = None          # None: never read
    released: bool = False           # the holder gave the lease up at a clean stop (no replica acts)

    def leader_member(self) -> Member | None:
        return next((m for m in self.members if m.holder == self.leader), None)


class VantageLink:
    def __init__(self, link: StoreLink[LeaseStore], identity: Identity, kind: str, every: float,
                 clock: Callable[[], float], own_view: Callable[[float], VantageView]) -> None:
        self.link = link
        self.identity = identity
        self.kind = kind
        self.every = every
        self._clock = clock
        self._own_view = own_view
        self._roll = Roll()

    def roll(self) -> Roll:
        return self._roll

    async def run(self, stop: asyncio.Event, post: Callable[[Event], None]) -> None:
        while not stop.is_set():
            await self.round(post)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)

    async def round(self, post: Callable[[Event], None]) -> None:
        me = self.identity
        sent = self._clock()
        try:
            got = await self.link.call(self.link.store.heartbeat, me.holder, name=me.name, kind=self.kind,
                                       host=me.host, pid=me.pid, started_at=me.started_at,
                                       view=self._own_view(sent).as_json())
        except StoreError as exc:
            log.debug("vantage round failed: %s", exc, extra=fields("vantage_round_failed", error=str(exc)))
            return
        local = self._clock()
        members = []
        for row in got["members"]:
            at = local - float(row["age_s"])
            view = VantageView.from_json(row["name"], at, row["view"]) if isinstance(row["view"], dict) else None
            members.append(Member(row["name"], row["kind"], row["holder"], row["host"], int(row["pid"]),
                                  float(row["age_s"]), float(row["started_at"]), view))
        lease = got["lease"]
        held = lease is not None and float(lease["left_s"]) > 0
        self._roll = Roll(tuple(members), lease["holder"] if held else None, lease["term"] if lease else None,
                          float(lease["left_s"]) if lease else None, local, bool(lease and lease.get("released")))
        newest: dict[str, VantageView] = {}
        for m in members:  # newest first: a name's freshest view wins (a restarted agent's old row ages out)
            if m.view is not None and m.holder != me.holder and m.name not in newest:
                newest[m.name] = m.view
        post(VantagesRead(tuple(newest.values())))

    async def leave(self) -> None:
        """A clean stop: the row goes, so status does not show this process as silent for a day."""
        with contextlib.suppress(StoreError):
            await self.link.call(self.link.store.forget_member, self.identity.holder)
        self.link.close()
