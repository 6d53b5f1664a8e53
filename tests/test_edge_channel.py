"""The Genesys edge view pushed through a Notification API channel, against the emulator's
channel API and WebSocket on a real socket: pushes arrive at once, confirmations keep the view's
age low, the channel is renewed before it expires, and a refused channel leaves polling on."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import AsyncIterator

import pytest

from tests.conftest import eventually, free_port
from trunkguard.actuation.genesys import GenesysPlatform
from trunkguard.actuation.genesys_channel import EdgeChannel
from trunkguard.actuation.genesys_emulator import GenesysState, byoc_org, create_genesys_app
from trunkguard.actuation.http import PlatformHttp
from trunkguard.asgi import serving

A, B = "tb-carrier-a", "tb-carrier-b"


class Feed:
    def __init__(self, channel: EdgeChannel) -> None:
        self.channel = channel
        self.seen: list[tuple[float, dict[str, bool | None], float]] = []  # (received, view, as of)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def publish(self, view: dict[str, bool | None], as_of: float) -> None:
        self.seen.append((time.time(), dict(view), as_of))

    def start(self) -> None:
        self.task = asyncio.create_task(self.channel.run(self.publish, self.stop))

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)


@pytest.fixture
async def org() -> AsyncIterator[tuple[GenesysState, str]]:
    state = byoc_org()
    port = free_port(socket.SOCK_STREAM)
    async with serving(create_genesys_app(state), "127.0.0.1", port):
        yield state, f"http://127.0.0.1:{port}"


def _channel(url: str, **kw: float) -> EdgeChannel:
    http = PlatformHttp(url, client_id="trunkguard", client_secret="lab-secret")
    return EdgeChannel(GenesysPlatform(http, primary_trunk_base=A, secondary_trunk_base=B), **kw)


async def test_a_change_on_the_edge_is_pushed_within_milliseconds(org: tuple[GenesysState, str]) -> None:
    state, url = org
    feed = Feed(_channel(url))
    feed.start()
    await eventually(lambda: feed.channel.live, "the channel live")
    assert feed.seen[-1][1] == {A: True, B: True}
    delays = []
    for answering in (False, True, False):
        changed = state.set_options("trunk-tb-carrier-a", answering)
        await eventually(lambda a=answering: feed.seen and feed.seen[-1][1][A] is a, "the pushed change")
        delays.append(feed.seen[-1][0] - changed)
    print(f"push delays: {[round(d * 1000, 1) for d in delays]} ms")
    assert max(delays) < 0.5
    await feed.close()
    await feed.channel.platform.close()


async def test_pings_keep_the_view_confirmed_under_2_seconds(org: tuple[GenesysState, str]) -> None:
    _, url = org
    feed = Feed(_channel(url, ping_every=0.5))
    feed.start()
    await eventually(lambda: feed.channel.live, "the channel live")
    await asyncio.sleep(3)
    confirmations = [as_of for _, _, as_of in feed.seen]
    gaps = [b - a for a, b in itertools.pairwise(confirmations)]
    assert len(confirmations) >= 5 and max(gaps) < 2.0, gaps
    await feed.close()
    await feed.channel.platform.close()


async def test_the_channel_is_renewed_before_it_expires_and_pushes_keep_coming(org: tuple[GenesysState, str]) -> None:
    state, url = org
    state.channel_ttl = 2.0
    feed = Feed(_channel(url))
    feed.start()
    await eventually(lambda: state.channels_created >= 3, "two renewals", timeout=10)
    await eventually(lambda: feed.channel.live, "the renewed channel live")
    state.set_options("trunk-tb-carrier-b", False)
    await eventually(lambda: feed.seen and feed.seen[-1][1][B] is False, "a push on the renewed channel")
    await feed.close()
    await feed.channel.platform.close()


async def test_a_refused_channel_is_not_live_and_is_retried(org: tuple[GenesysState, str]) -> None:
    state, url = org
    state.refuse_channels = True
    feed = Feed(_channel(url))
    feed.start()
    await asyncio.sleep(1.0)
    assert not feed.channel.live and state.channels_created == 0
    assert feed.seen and feed.seen[0][1] == {A: True, B: True}  # the REST view, read before the refusal
    state.refuse_channels = False
    await eventually(lambda: feed.channel.live, "the channel once allowed", timeout=10)
    await feed.close()
    await feed.channel.platform.close()
