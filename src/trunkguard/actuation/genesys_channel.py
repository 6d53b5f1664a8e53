"""The Genesys edge's view of each carrier, pushed through the Notification API.

One channel (`POST /api/v2/notifications/channels`) subscribed to
`v2.telephony.providers.edges.trunks.{trunkId}` for every trunk of both carriers' trunk bases (at
most 1,000 topics per channel), read over its WebSocket (`connectUri`). The trunks are listed once
for their ids and again once the WebSocket is open, so a change between the two is not lost. Each
event replaces that trunk's `optionsStatus`; `inService` comes from the listing. The
view is published on every change, and again each time a WebSocket ping is answered (every
`ping_every` seconds), so the decision core knows how old the view is: its age at decision time is
the time since the platform last confirmed it. A channel lives 24 hours on Genesys Cloud: a new one
is opened `renew_before` seconds before it expires. While no channel is live (refused, dropped,
reconnecting with backoff) `live` is false and the runtime polls the REST view instead.

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

TOPIC = "v2.telephony.providers.edges.trunks."
MAX_TOPICS = 1000
log = logging.getLogger("trunkguard.genesys")
Publish = Callable[[dict[str, bool | None], float], None]  # (trunk base -> answering, as of time.time())


class EdgeChannel:
    def __init__(self, platform: GenesysPlatform, *, ping_every: float = 1.0, ping_timeout: float = 2.0,
                 renew_before: float = 600.0, connect_timeout: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.platform = platform
        self.ping_every, self.ping_timeout = ping_every, ping_timeout
        self.renew_before = renew_before
        self.connect_timeout = connect_timeout
        self.clock = clock
        self.live = False
        self.channels_opened = 0
        self._trunks: dict[str, dict[str, Any]] = {}  # trunk id -> trunk as listed, optionsStatus as pushed

    def view(self) -> dict[str, bool | None]:
        bases = (self.platform.primary, self.platform.secondary)
        return {b: trunks_answering([t for t in self._trunks.values() if (t.get("trunkBase") or {}).get("id") == b])
                for b in bases}

    async def run(self, publish: Publish, stop: asyncio.Event) -> None:
        """Keep a channel open until `stop`; reconnect with backoff when it drops or is refused."""
        failures = 0
        while not stop.is_set():
            try:
                await self._one_channel(publish, stop)
                failures = 0
            except (PlatformError, OSError, TimeoutError, websockets.WebSocketException, ValueError) as exc:
                failures += 1
                log.warning("the Genesys notification channel is down (%s: %s); polling the edge view until it "
                            "is back", type(exc).__name__, exc)
            self.live = False
            if not stop.is_set() and failures:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(30.0, 2.0 ** failures))

    async def _one_channel(self, publish: Publish, stop: asyncio.Event) -> None:
        http = self.platform.http
        trunks = [t for base in (self.platform.primary, self.platform.secondary)
                  for t in await self.platform.trunks(base)]
        self._trunks = {str(t["id"]): t for t in trunks if t.get("id")}
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
            for trunk in [t for base in (self.platform.primary, self.platform.secondary)
                          for t in await self.platform.trunks(base)]:
                if str(trunk.get("id")) in self._trunks:
                    self._trunks[str(trunk["id"])] = trunk
            self.live = True
            publish(self.view(), self.clock())
            renew_at = expires - min(self.renew_before, max(0.0, (expires - self.clock()) / 2))
            pinger = asyncio.create_task(self._ping(ws, publish), name="genesys channel pings")
            try:
                await self._read(ws, publish, stop, renew_at)
            finally:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pinger
                self.live = False

    async def _read(self, ws: ClientConnection, publish: Publish, stop: asyncio.Event, renew_at: float) -> None:
        while not stop.is_set():
            left = renew_at - self.clock()
            if left <= 0:
                return  # renew: a new channel before this one expires
            try:
                raw = await asyncio.wait_for(ws.recv(), min(left, 1.0))
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
                log.warning("the Genesys notification channel did not answer a ping within %gs", self.ping_timeout)
                await ws.close()
                return
            publish(self.view(), self.clock())


def _when(value: Any, default: float) -> float:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default
