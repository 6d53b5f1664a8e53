"""The platform contract every adapter must pass, against the emulator on a real HTTP socket."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import free_port
from trunkguard.actuation.base import AuthError, Platform, PlatformError
from trunkguard.actuation.emulator import EmulatorState, create_app, default_rule
from trunkguard.actuation.generic import GenericPlatform
from trunkguard.actuation.http import PlatformHttp

RULE, QUEUE = "rule-inbound-1", "primary_inbound_queue_id"


@dataclass
class Emulator:
    state: EmulatorState
    url: str

    async def fault(self, **fault: Any) -> None:
        async with httpx.AsyncClient() as client:
            (await client.post(f"{self.url}/_emulator/faults", json=fault)).raise_for_status()


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    state = EmulatorState(rules={RULE: default_rule(RULE, "tg-primary")}, calls={QUEUE: 3})
    port = free_port(socket.SOCK_STREAM)
    server = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield Emulator(state, f"http://127.0.0.1:{port}")
    server.should_exit = True
    await task


def generic(url: str, *, secret: str = "lab-secret", deadline: float = 5.0) -> GenericPlatform:
    http = PlatformHttp(url, client_id="trunkguard", client_secret=secret, deadline=deadline)
    return GenericPlatform(http, rule_id=RULE, queue_id=QUEUE, fallback_queue_id="overflow_queue_id")


ADAPTERS: dict[str, Callable[..., GenericPlatform]] = {"generic": generic}


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> Callable[..., Platform]:
    return ADAPTERS[request.param]  # type: ignore[return-value]


async def test_reads_the_routing_and_the_live_calls(emulator: Emulator, adapter: Callable[..., Platform]) -> None:
    platform = adapter(emulator.url)
    state = await platform.read_routing()
    assert (state.trunk_group_id, state.version) == ("tg-primary", 1)
    assert await platform.active_calls() == 3
    await platform.close()


async def test_swap_is_applied_once_and_read_back(emulator: Emulator, adapter: Callable[..., Platform]) -> None:
    platform = adapter(emulator.url)
    state = await platform.apply_swap("tg-secondary", idempotency_key="swap-1-to-secondary", expected_version=1)
    assert (state.trunk_group_id, state.version) == ("tg-secondary", 2)
    rule = emulator.state.rules[RULE]
    assert rule["action"] == {"type": "routeToTrunkGroup", "trunkGroupId": "tg-secondary", "queueId": QUEUE,
                              "fallback": {"type": "routeToQueue", "queueId": "overflow_queue_id"}}
    again = await platform.apply_swap("tg-secondary", idempotency_key="swap-1-to-secondary", expected_version=1)
    assert again.version == 2 and emulator.state.writes_applied == 1
    await platform.close()


async def test_a_version_conflict_is_re_read_and_re_applied(emulator: Emulator,
                                                            adapter: Callable[..., Platform]) -> None:
    platform = adapter(emulator.url)
    await platform.read_routing()
    emulator.state.rules[RULE]["version"] = 7  # someone edited the rule meanwhile
    state = await platform.apply_swap("tg-secondary", idempotency_key="k1", expected_version=1)
    assert (state.trunk_group_id, state.version) == ("tg-secondary", 8)
    assert emulator.state.writes_applied == 1
    await platform.close()


async def test_503s_are_retried_within_the_deadline(emulator: Emulator, adapter: Callable[..., Platform]) -> None:
    platform = adapter(emulator.url)
    await emulator.fault(status=503, times=2)
    state = await platform.apply_swap("tg-secondary", idempotency_key="k2", expected_version=1)
    assert state.trunk_group_id == "tg-secondary" and emulator.state.writes_applied == 1
    await platform.close()


async def test_429_retry_after_is_honoured(emulator: Emulator, adapter: Callable[..., Platform]) -> None:
    platform = adapter(emulator.url)
    await platform.read_routing()
    await emulator.fault(status=429, retry_after=1)
    started = time.monotonic()
    assert await platform.active_calls() == 3
    assert time.monotonic() - started >= 1.0
    await platform.close()


async def test_an_expired_token_is_renewed_on_401(emulator: Emulator, adapter: Callable[..., Platform]) -> None:
    platform = adapter(emulator.url)
    await platform.read_routing()
    emulator.state.tokens.clear()
    assert (await platform.read_routing()).trunk_group_id == "tg-primary"
    await platform.close()


async def test_wrong_credentials_are_an_auth_error(emulator: Emulator) -> None:
    platform = generic(emulator.url, secret="wrong")
    with pytest.raises(AuthError, match="token request refused: HTTP 401"):
        await platform.read_routing()
    await platform.close()


async def test_past_the_deadline_nothing_is_half_applied(emulator: Emulator) -> None:
    platform = generic(emulator.url, deadline=1.0)
    await platform.read_routing()
    await emulator.fault(status=503, times=1000)
    started = time.monotonic()
    with pytest.raises(PlatformError, match="at the 1s deadline"):
        await platform.apply_swap("tg-secondary", idempotency_key="k3", expected_version=1)
    assert time.monotonic() - started < 2.0
    assert emulator.state.rules[RULE]["action"]["trunkGroupId"] == "tg-primary"
    assert emulator.state.writes_applied == 0
    await platform.close()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_30_percent_faults_still_give_exactly_one_applied_swap(emulator: Emulator, seed: int) -> None:
    platform = generic(emulator.url, deadline=15.0)
    await emulator.fault(random_status=503, probability=0.3, seed=seed)
    state = await platform.apply_swap("tg-secondary", idempotency_key=f"swap-{seed}", expected_version=1)
    assert state.trunk_group_id == "tg-secondary"
    assert emulator.state.writes_applied == 1
    await platform.close()
