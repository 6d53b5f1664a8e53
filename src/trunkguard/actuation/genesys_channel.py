"""The Genesys edge's view of each carrier, pushed through the Notification API.

One channel (`POST /api/v2/notifications/channels`) subscribed to
`v2.telephony.providers.edges.trunks.{trunkId}` for every trunk of both carriers' trunk bases (at
most 1,000 topics per channel), read over its WebSocket (`connectUri`). The trunks are listed once
for their ids and again once the WebSocket is open, so a change between the two is not lost. Each
event replaces that trunk's `optionsStatus` and `connectedStatus`. An event never carries
`inService` (it follows the trunk base's `trunk_enabled`), so it is kept current two other ways:
every trunk base the adapter reads or writes (a swap's write and read-back of `trunk_enabled`) is
told to the channel at once (`GenesysPlatform.watch_trunk_bases`), and the trunks are listed again
every `relist_every` seconds while the channel is live (a change made behind trunkguard's back is
seen within that; a listing that finds trunks added or removed opens a new channel for their topics).
The view is published on every change, and again each time a WebSocket ping is answered (every
`ping_every` seconds), so the decision core knows how old the view is: its age at decision time is
the time since the platform last confirmed it. A channel lives 24 hours on Genesys Cloud: a new one
is opened `renew_before` seconds before it expires. While no channel is live (refused, dropped,
reconnecting with backoff) `live` is false and the runtime polls the REST view instead. The channel
going live, being renewed and dropping are one log line each.

The WebSocket client is the `websockets` library (RFC 6455, pings and close handshakes); nothing
here parses frames by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from trunkguard.actuation.base import PlatformError
from trunkguard.actuation.genesys import GenesysPlatform, trunks_answering
from trunkguard.actuation.http import json_object
from trunkguard.logs import fields

TOPIC = "v2.telephony.providers.edges.trunks."
MAX_TOPICS = 1000
RELIST_RETRY = 30.0  # after a failed re-list, the next try (at most relist_every)
log = logging.getLogger("trunkguard")
Publish = Callable[[dict[str, bool | None], float], None]  # (trunk base -> answering, as of time.time())


class EdgeChannel:
    def __init__(self, platform: GenesysPlatform, *, ping_every: float = 1.0, ping_timeout: float = 2.0,
                 renew_before: float = 600.0, connect_timeout: float = 10.0, relist_every: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.platform = platform
        self.ping_every, self.ping_timeout = ping_every, ping_timeout
        self.renew_before = renew_before
        self.connect_timeout = connect_timeout
        self.relist_every = relist_every
        self.clock = clock
        self.live = False
        self.channels_opened = 0
        self.times_live = 0
        self.relists = 0  # listings while live
        self._trunks: dict[str, dict[str, Any]] = {}  # trunk id -> trunk as listed, optionsStatus as pushed
        self._publish: Publish | None = None
        self._told: dict[str, tuple[bool, int]] = {}  # trunk base -> (trunk_enabled, when told: _told_seq)
        self._told_seq = 0
        self._drop_reason = ""
        platform.watch_trunk_bases(self.trunk_base_seen)

    def view(self) -> dict[str, bool | None]:
        bases = (self.platform.primary, self.platform.secondary)
        return {b: trunks_answering([t for t in self._trunks.values() if _base_of(t) == b]) for b in bases}

    def trunk_base_seen(self, trunk_base: str, enabled: bool) -> None:
        """The adapter read or wrote this trunk base: its trunks' `inService` is `enabled` from now on
        (until a later listing or call says otherwise); a change is published at once while live."""
        self._told_seq += 1
        self._told[trunk_base] = (enabled, self._told_seq)
        changed = False
        for trunk in self._trunks.values():
            if _base_of(trunk) == trunk_base and trunk.get("inService") is not enabled:
                trunk["inService"] = enabled
                changed = True
        if changed and self.live and self._publish is not None:
            self._publish(self.view(), self.clock())

    async def run(self, publish: Publish, stop: asyncio.Event) -> None:
        """Keep a channel open until `stop`; reconnect with backoff when it drops or is refused."""
        self._publish = publish
        failures = 0
        while not stop.is_set():
            self._drop_reason = ""
            lives = self.times_live
            try:
                await self._one_channel(publish, stop)
                failures = 0
            except (PlatformError, OSError, TimeoutError, websockets.WebSocketException, ValueError) as exc:
                why = self._drop_reason or f"{type(exc).__name__}: {exc}"
                if self.times_live > lives:  # it was live: a drop, retried after a short pause
                    failures = 1
                    log.warning("the Genesys notification channel dropped (%s); polling the edge view until it "
                                "is back", why, extra=fields("edge_channel_dropped", error=why))
                else:
                    failures += 1
                    log.warning("the Genesys notification channel could not be opened (%s); polling the edge view "
                                "until it is", why, extra=fields("edge_channel_unavailable", error=why))
            self.live = False
            if not stop.is_set() and failures:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(30.0, 2.0 ** failures))

    async def _one_channel(self, publish: Publish, stop: asyncio.Event) -> None:
        http = self.platform.http
        self._trunks = await self._listing()
        if len(self._trunks) > MAX_TOPICS:
            raise PlatformError(f"{len(self._trunks)} trunks: more than one channel's {MAX_TOPICS} topics")
        publish(self.view(), self.clock())
        channel = json_object(await http.request("POST", "/api/v2/notifications/channels"), "notification channel")
        channel_id, uri = str(channel.get("id", "")), str(channel.get("connectUri", ""))
        if not channel_id or not uri.startswith(("ws://", "wss://")):
            raise PlatformError("notification channel not understood: no id or connectUri")
        expires = _when(channel.get("expires"), self.clock() + 86400.0)
        topics = [{"id": f"{TOPIC}{t}"} for t in self._trunks]
        answer = json_object(await http.request("PUT", f"/api/v2/notifications/channels/{channel_id}/subscriptions",
                                                json=topics), "channel subscriptions")
        refused = [e for e in answer.get("entities") or [] if e.get("state") not in (None, "Permitted")]
        if refused:
            first = refused[0]
            raise PlatformError(f"{len(refused)} topics refused, e.g. {first.get('id')}: "
                                f"{first.get('rejectionReason') or first.get('missingPermissions')}")
        self.channels_opened += 1
        async with websockets.connect(uri, open_timeout=self.connect_timeout, ping_interval=None,
                                      close_timeout=2.0) as ws:
            # read the trunks again now that changes are pushed: nothing between the reads is lost
            for trunk_id, trunk in (await self._listing()).items():
                if trunk_id in self._trunks:
                    self._trunks[trunk_id] = trunk
            self.live = True
            self.times_live += 1
            renew_at = expires - min(self.renew_before, max(0.0, (expires - self.clock()) / 2))
            log.info("the Genesys notification channel is live: %d trunks pushed, renewed at %s (expires %s)",
                     len(self._trunks), _iso(renew_at), _iso(expires),
                     extra=fields("edge_channel_live", trunks=len(self._trunks), renew_at=_iso(renew_at),
                                  expires=_iso(expires)))
            publish(self.view(), self.clock())
            pinger = asyncio.create_task(self._ping(ws, publish), name="genesys channel pings")
            try:
                await self._read(ws, publish, stop, renew_at, expires)
            finally:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pinger
                self.live = False

    async def _listing(self) -> dict[str, dict[str, Any]]:
        """Both carriers' trunks as listed now, by id; a trunk base the adapter told of while the
        listing was made keeps what it was told (the listing may predate that write)."""
        since = self._told_seq
        listed = {str(t["id"]): t for base in (self.platform.primary, self.platform.secondary)
                  for t in await self.platform.trunks(base) if t.get("id")}
        for trunk in listed.values():
            told = self._told.get(_base_of(trunk) or "")
            if told is not None and told[1] > since:
                trunk["inService"] = told[0]
        return listed

    async def _relist(self, publish: Publish) -> bool:
        """The trunks listed again while live: False when their set changed (a new channel subscribes)."""
        async with asyncio.timeout(self.connect_timeout):
            listed = await self._listing()
        self.relists += 1
        if set(listed) != set(self._trunks):
            added, gone = len(set(listed) - set(self._trunks)), len(set(self._trunks) - set(listed))
            log.info("renewing the Genesys notification channel: the carriers' trunks changed (%d added, %d gone)",
                     added, gone, extra=fields("edge_channel_renewing", reason="trunks_changed", added=added,
                                               gone=gone))
            return False
        self._trunks.update(listed)
        publish(self.view(), self.clock())
        return True

    async def _read(self, ws: ClientConnection, publish: Publish, stop: asyncio.Event, renew_at: float,
                    expires: float) -> None:
        relist_at = self.clock() + self.relist_every
        while not stop.is_set():
            now = self.clock()
            left = renew_at - now
            if left <= 0:
                log.info("renewing the Genesys notification channel before it expires at %s", _iso(expires),
                         extra=fields("edge_channel_renewing", reason="expiring", expires=_iso(expires)))
                return  # renew: a new channel before this one expires
            if now >= relist_at:
                try:
                    if not await self._relist(publish):
                        return
                    relist_at = self.clock() + self.relist_every
                except (PlatformError, OSError, TimeoutError) as exc:
                    retry = min(self.relist_every, RELIST_RETRY)
                    log.warning("could not list the Genesys trunks again (%s); the pushed view is kept, next try "
                                "in %gs", exc, retry, extra=fields("edge_relist_failed", error=str(exc), retry_s=retry))
                    relist_at = self.clock() + retry
                continue
            try:
                raw = await asyncio.wait_for(ws.recv(), min(left, relist_at - now, 1.0))
            except TimeoutError:
                continue
            message = json.loads(raw)
            topic = str(message.get("topicName", ""))
            body = message.get("eventBody") or {}
            if topic.startswith(TOPIC) and str(body.get("id")) in self._trunks:
                trunk = self._trunks[str(body["id"])]
                for name in ("optionsStatus", "connectedStatus"):
                    if name in body:
                        trunk[name] = body[name]
            publish(self.view(), self.clock())  # an event, or the channel's heartbeat: the view is current

    async def _ping(self, ws: ClientConnection, publish: Publish) -> None:
        while True:
            await asyncio.sleep(self.ping_every)
            waiter = await ws.ping()
            try:
                await asyncio.wait_for(waiter, self.ping_timeout)
            except TimeoutError:
                self._drop_reason = f"no answer to a ping within {self.ping_timeout:g}s"
                await ws.close()
                return
            publish(self.view(), self.clock())


def _base_of(trunk: dict[str, Any]) -> str | None:
    base = (trunk.get("trunkBase") or {}).get("id")
    return None if base is None else str(base)


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds")


def _when(value: Any, default: float) -> float:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default
