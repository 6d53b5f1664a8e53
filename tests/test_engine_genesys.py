"""The engine in-process against SIPp carriers and the Genesys Cloud emulator: the composite swap
on real Genesys paths, the edge's view as a second vantage point, the breaker on trunk metrics."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Sipp, eventually, free_port
from trunkguard.api.view import status_json
from trunkguard.app import Service
from trunkguard.asgi import serving
from trunkguard.config import parse_config
from trunkguard.testing.genesys_emulator import GenesysState, byoc_org, create_genesys_app

pytestmark = [pytest.mark.sipp]
ENV = {"GC_CLIENT_ID": "trunkguard", "GC_CLIENT_SECRET": "lab-secret", "TG_TOKEN": "t"}


@dataclass
class Running:
    service: Service
    org: GenesysState
    primary: Sipp

    async def until(self, check: Callable[[], object], what: str, timeout: float = 20) -> None:
        await eventually(check, what, timeout=timeout, detail=lambda: self.service.status().last_sentence)


def genesys_platform(port: int) -> str:
    """The config's platform section for the Genesys Cloud emulator at `port` (byoc_org's objects)."""
    return f"""platform:
  kind: genesys
  base_url: http://127.0.0.1:{port}
  site_id: site-1
  outbound_route_id: route-1
  datatable_id: dt-carrier
  manage_trunk_enabled: true
  client_id_env: GC_CLIENT_ID
  client_secret_env: GC_CLIENT_SECRET
"""


@pytest.fixture
async def running(tmp_path: Path, sipp_uas: Callable[..., Sipp], monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[Running]:
    monkeypatch.setenv("TRUNKGUARD_STATE_DIR", str(tmp_path))
    org = byoc_org()
    primary, secondary = sipp_uas(), sipp_uas()
    port = free_port(socket.SOCK_STREAM)
    health = "{interval: 1s, timeout: 800ms, confirm_interval: 200ms, down_after: 2, confirm_burst: 2}"
    cfg = parse_config(f"""
carriers:
  primary: {{trunk_group_id: tb-carrier-a, health: {health}, trunks: [{{name: a1, uri: "{primary.uri}"}}]}}
  secondary: {{trunk_group_id: tb-carrier-b, health: {health}, trunks: [{{name: b1, uri: "{secondary.uri}"}}]}}
policy:
  poll_interval: 300ms
  breaker: {{max_active_calls: 5, hard_down_bypass: false}}
  readiness: {{sweep: false, certs: false, parity: false}}
{genesys_platform(port)}storage: {{url: "sqlite:///{tmp_path}/tg.db"}}
api: {{listen: "127.0.0.1:{free_port(socket.SOCK_STREAM)}", token_env: TG_TOKEN}}
""")
    service = Service.build(cfg, ENV)  # ENV: what genesys_platform names
    stop = asyncio.Event()
    async with serving(create_genesys_app(org), "127.0.0.1", port):
        task = asyncio.create_task(service.run(stop))
        running = Running(service, org, primary)
        await running.until(lambda: all(h.state.value == "up" for h in service.status().health.values())
                            and service.status().edge != {}, "carriers up and the edge view read")
        yield running
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_primary_dies_and_the_genesys_objects_move_once(running: Running) -> None:
    running.primary.stop()
    await running.until(lambda: running.service.status().pair.active == "secondary"
                        and running.service.status().pair.in_flight is None, "the swap")
    org = running.org
    assert org.first_trunk_base("route-1") == "tb-carrier-b"
    assert org.rows[("dt-carrier", "active")]["activeCarrier"] == "secondary"
    assert org.trunks["trunk-tb-carrier-a"]["inService"] is False
    assert org.writes == ["outboundroute", "datatable row", "trunkbasesettings"]
    await asyncio.sleep(1)
    assert len(org.writes) == 3  # exactly once


async def test_the_pushed_edge_view_is_under_2s_old_when_the_swap_is_decided(running: Running) -> None:
    """The emulator pushes the edge's OPTIONS state over the notification channel; the swap's
    sentence says what the edge saw of the primary and how old that view was."""
    await running.until(lambda: any(c.connected for c in running.org.channels.values()), "the channel connected")
    assert running.org.channels_created == 1
    pushed_at = running.org.set_options("trunk-tb-carrier-a", False)  # the edge sees the primary die too
    await eventually(lambda: running.service.status().edge.get("primary") is False, "the pushed view",
                     detail=lambda: f"{running.service.status().edge} {running.org.trunks}")
    seen_after = time.time() - pushed_at
    running.primary.stop()
    await running.until(lambda: running.service.status().pair.active == "secondary", "the swap")
    def activating() -> list[str]:
        return [d["sentence"] for d in running.service.store.history(50) if d["sentence"].startswith("activating")]

    await running.until(activating, "the swap's decision in the store")
    sentence = activating()[0]
    match = re.search(r"sees no primary trunk answering either \(its view (\d+(?:\.\d+)?)(ms|s) old\)", sentence)
    assert match, sentence
    age = float(match[1]) / (1000 if match[2] == "ms" else 1)
    print(f"edge view: pushed to the machine {seen_after * 1000:.0f} ms after the change; {age:.3f} s old at "
          "decision time")
    assert age < 2.0 and seen_after < 2.0


async def test_the_edge_seeing_the_secondary_down_holds_the_swap(running: Running) -> None:
    running.org.set_options("trunk-tb-carrier-b", False)  # pushed over the notification channel
    await running.until(lambda: running.service.status().edge.get("secondary") is False, "the edge view")
    running.primary.stop()
    await running.until(lambda: "the platform's edge sees no secondary trunk" in running.service.status().last_sentence,
                        "the edge gap")
    assert running.org.writes == [] and running.service.status().pair.active == "primary"
    running.org.set_options("trunk-tb-carrier-b", True)  # the edge sees it again
    await running.until(lambda: running.service.status().pair.active == "secondary", "the swap once the edge agrees")


async def test_the_breaker_counts_calls_on_the_primary_trunks(running: Running) -> None:
    running.org.trunk_calls["trunk-tb-carrier-a"] = (6, 1)
    await running.until(lambda: running.service.status().calls == 7, "the call count from trunk metrics")
    running.primary.stop()
    await running.until(lambda: status_json(running.service.status())["queued_activation"] is not None, "a queued activation")
    assert running.org.writes == []
    running.org.trunk_calls["trunk-tb-carrier-a"] = (2, 0)  # calls drain below the breaker's 5
    await running.until(lambda: running.service.status().pair.active == "secondary", "the swap after calls drop")
