"""The Genesys edge view pushed through a Notification API channel, against the emulator's
channel API and WebSocket on a real socket: pushes arrive at once, confirmations keep the view's
age low, the channel is renewed before it expires, and a refused channel leaves polling on. A
trunk's `inService` is never pushed: the adapter's own trunk base writes and reads feed it, and a
periodic re-list catches a change made behind trunkguard's back."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import eventually, free_port
from trunkguard.actuation.genesys import GenesysPlatform
from trunkguard.actuation.genesys_channel import EdgeChannel
from trunkguard.actuation.http import PlatformHttp
from trunkguard.actuation.swap import SwapRules, carry_out
from trunkguard.asgi import serving
from trunkguard.logs import EXTRA
from trunkguard.testing.genesys_emulator import GenesysState, byoc_org, create_genesys_app

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


def _channel(url: str, **kw: Any) -> EdgeChannel:
    http = PlatformHttp(url, client_id="trunkguard", client_secret="lab-secret")
    return EdgeChannel(GenesysPlatform(http, primary_trunk_base=A, secondary_trunk_base=B,
                                       datatable_id="dt-carrier", manage_trunk_enabled=True), **kw)


class Clock:
    """time.time(), moved forward by the test."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


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


async def test_a_failback_enabling_the_primary_is_seen_at_once_by_a_channel_opened_while_it_was_disabled(
        org: tuple[GenesysState, str]) -> None:
    """4b as observed: the channel (re-)opened while the primary's trunk base was out of service; the
    approved failback put it back in service and the platform pushed connected=true for its trunks,
    but no event carries inService, so the view said the primary was not answering until the next
    re-open (up to 24 h): a permanent false "primary down" vote from the edge vantage."""
    state, url = org
    state.add_trunk("trunk-tb-carrier-a-2", A)  # the primary on two edges, the secondary on one: three trunks
    feed = Feed(_channel(url))  # the default 5 min re-list: not what makes this test pass
    platform = feed.channel.platform
    rules = SwapRules(readback=5.0, backoff=0.05)
    failover = await carry_out(platform, B, "swap-away", rules)
    assert failover.ok, failover.detail
    assert state.trunks["trunk-tb-carrier-a"]["inService"] is False
    feed.start()  # the channel opens while the primary's trunk base is disabled
    await eventually(lambda: feed.channel.live, "the channel live")
    assert feed.seen[-1][1] == {A: False, B: True}
    state.read_lag = 0.5  # read-backs lag behind the writes: an older read never puts the old view back
    published = len(feed.seen)
    failback = await carry_out(platform, A, "swap-home", rules, restore=failover.prior)
    assert failback.ok, failback.detail
    assert state.trunks["trunk-tb-carrier-a"]["inService"] is True
    primary_trunks = [t for t, trunk in state.trunks.items() if trunk["trunkBase"]["id"] == A]
    await eventually(lambda: all(feed.channel._trunks[t]["connectedStatus"]["connected"] for t in primary_trunks),
                     "connected=true pushed for the primary's trunks", timeout=2)
    await eventually(lambda: feed.seen[-1][1] == {A: True, B: True}, "the primary answering in the view",
                     timeout=1, detail=lambda: f"{feed.seen[-1][1]}")
    since = next(n for n, (_, view, _) in enumerate(feed.seen) if n >= published and view[A])
    await asyncio.sleep(0.6)  # past the read lag: the swap's lagging read-backs came and went
    assert all(view[A] for _, view, _ in feed.seen[since:]), [view for _, view, _ in feed.seen[since:]]
    assert state.channels_created == 1 and feed.channel.relists == 0  # no re-open, no re-list: the write said it
    await feed.close()
    await platform.close()


async def test_a_change_behind_trunkguards_back_is_seen_by_the_periodic_relist(
        org: tuple[GenesysState, str]) -> None:
    state, url = org
    state.set_trunk_enabled(A, False)  # an administrator, not trunkguard
    clock = Clock()
    feed = Feed(_channel(url, relist_every=300.0, clock=clock))
    feed.start()
    await eventually(lambda: feed.channel.live, "the channel live")
    assert feed.seen[-1][1] == {A: False, B: True}
    state.set_trunk_enabled(A, True)  # pushed as connected=true; inService is not in the event
    await eventually(lambda: feed.channel._trunks["trunk-tb-carrier-a"]["connectedStatus"]["connected"],
                     "the pushed connectedStatus", timeout=2)
    assert feed.seen[-1][1] == {A: False, B: True}  # the push alone cannot say it
    clock.ahead = 301.0  # the re-list is due
    await eventually(lambda: feed.seen[-1][1] == {A: True, B: True}, "the re-listed view", timeout=3,
                     detail=lambda: f"{feed.seen[-1][1]}")
    assert feed.channel.relists == 1 and state.channels_created == 1 and feed.channel.live  # listed while live
    await feed.close()
    await feed.channel.platform.close()


async def test_going_live_renewing_and_dropping_are_one_log_line_each(
        org: tuple[GenesysState, str], caplog: pytest.LogCaptureFixture) -> None:
    state, url = org
    state.heartbeat = 0.2  # the emulator notices an expired channel within this
    caplog.set_level(logging.INFO, logger="trunkguard")
    clock = Clock()
    feed = Feed(_channel(url, clock=clock))

    def channel_records() -> list[logging.LogRecord]:
        return [r for r in caplog.records if _event(r).startswith("edge_channel_")]

    def lines() -> list[str]:
        return [r.getMessage() for r in channel_records()]

    feed.start()
    await eventually(lambda: len(lines()) == 1, "the live line")
    for channel in state.channels.values():
        channel.expires = time.time()  # the platform drops the channel
    await eventually(lambda: len(lines()) == 3, "the drop and the live line again", timeout=10,
                     detail=lambda: f"{lines()}")
    clock.ahead = 86400.0 - 600.0 + 10.0  # 600 s before the channel expires: renew it
    await eventually(lambda: len(lines()) == 5, "the renewal and the live line again", detail=lambda: f"{lines()}")
    await asyncio.sleep(0.5)
    messages = lines()
    assert len(messages) == 5, messages
    assert "is live" in messages[0] and "dropped" in messages[1] and "is live" in messages[2], messages
    assert "renewing" in messages[3] and "is live" in messages[4], messages
    assert all(r.name == "trunkguard" for r in channel_records())
    assert [(_event(r), r.levelname) for r in channel_records()] == [
        ("edge_channel_live", "INFO"), ("edge_channel_dropped", "WARNING"), ("edge_channel_live", "INFO"),
        ("edge_channel_renewing", "INFO"), ("edge_channel_live", "INFO")]
    await feed.close()
    await feed.channel.platform.close()


def _event(record: logging.LogRecord) -> str:
    """A log record's stable event name (docs/logs.md), as `trunkguard.logs.fields` gave it."""
    return str(getattr(record, EXTRA, {}).get("event", ""))
