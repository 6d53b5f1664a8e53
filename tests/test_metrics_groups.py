"""/metrics with two routing groups (issue 27, item 2): the daemon's service in this process, three SIPp
carriers and the Genesys Cloud emulator, scraped on its API port.

Group na routes route-1 by the chain a > b; group eu routes route-2 by x > b (b is in both chains, its
trunk probed once). Each group's series carry its `group` and are its own: when a dies and na moves
to b, na's series say so and not one of eu's changes."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Sipp, eventually, free_port
from tests.test_engine_genesys import ENV
from tests.test_groups_e2e import two_groups_config, two_groups_org
from trunkguard.app import Service
from trunkguard.asgi import serving
from trunkguard.core.failover import PairSnapshot
from trunkguard.testing.genesys_emulator import create_genesys_app

pytestmark = [pytest.mark.sipp, pytest.mark.slow]
# the series that change by themselves (probe counts, round trips, times, the process): not compared
MOVING = re.compile(r"^(?:process_|trunkguard_(?:probe|sip_messages|decision_latency|replica_heard|lease_term|"
                    r"media_|build_info))")


def series(text: str, group: str) -> dict[str, str]:
    """Each sample of `group` (its `group` label): the series, by name and labels, and its value."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or MOVING.match(line) or f'group="{group}"' not in line:
            continue
        name, _, value = line.rpartition(" ")
        out[name] = value
    return out


async def test_each_groups_series_are_its_own_and_a_failover_of_one_moves_only_its_series(
        tmp_path: Path, sipp_uas: Callable[..., Sipp], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUNKGUARD_STATE_DIR", str(tmp_path))
    org = two_groups_org(("a", "b"), ("x", "b"))
    peers = {name: sipp_uas() for name in ("a", "b", "x")}
    port, api_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    cfg = two_groups_config(peers, port, ("a", "b"), ("x", "b"), f"sqlite:///{tmp_path}/tg.db", api_port)
    service = Service.build(cfg, ENV)
    stop = asyncio.Event()

    def pair(group: str) -> PairSnapshot:
        view = service.status().group(group)
        assert view is not None
        return view.pair

    async with serving(create_genesys_app(org), "127.0.0.1", port), httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}", headers={"Authorization": f"Bearer {ENV['TG_TOKEN']}"},
            timeout=10) as client:
        task = asyncio.create_task(service.run(stop))

        async def scrape() -> str:
            answer = await client.get("/metrics")
            assert answer.status_code == 200, answer.text
            return answer.text
        try:
            await eventually(lambda: all(h.state.value == "up" for h in service.status().health.values())
                             and service.status().routing_read and service.status().leader
                             and all(g.calls is not None for g in service.status().routing_groups),
                             "three carriers up, both groups' routing and calls read",
                             detail=lambda: service.status().last_sentence)
            text = await scrape()
            assert 'trunkguard_active_calls{group="na"} 0.0' in text and 'trunkguard_active_calls{group="eu"} 0.0' in text
            lines = set(text.splitlines())
            for group, chain in (("na", ("a", "b")), ("eu", ("x", "b"))):
                for rank, carrier in enumerate(chain):
                    assert f'trunkguard_group_carrier{{carrier="{carrier}",group="{group}",rank="{rank}"}} 1.0' in lines
                    on = "1.0" if rank == 0 else "0.0"
                    assert (f'trunkguard_active_carrier{{carrier="{carrier}",group="{group}",'
                            f'trunk_group="tb-carrier-{carrier}"}} {on}') in lines, (group, carrier)
                    assert f'trunkguard_carrier_usable_trunks{{carrier="{carrier}",group="{group}"}} 1.0' in lines
            # b is in both chains: its counts once per group, its trunk's series once, without a group
            assert sum(1 for x in lines if x.startswith('trunkguard_trunk_state{carrier="b",state="up"')) == 1
            assert not any('carrier="a"' in x and 'group="eu"' in x for x in lines)
            na_before, eu_before = series(text, "na"), series(text, "eu")
            assert len(eu_before) > 20 and na_before.keys() != eu_before.keys()

            peers["a"].stop()
            await eventually(lambda: pair("na").active == "b" and pair("na").in_flight is None, "na moves to b",
                             detail=lambda: service.status().last_sentence)
            assert pair("eu").active == "x"
            text = await scrape()
            lines = set(text.splitlines())
            assert 'trunkguard_active_carrier{carrier="a",group="na",trunk_group="tb-carrier-a"} 0.0' in lines
            assert 'trunkguard_active_carrier{carrier="b",group="na",trunk_group="tb-carrier-b"} 1.0' in lines
            assert 'trunkguard_carrier_usable_trunks{carrier="a",group="na"} 0.0' in lines
            assert 'trunkguard_swaps_total{group="na",result="applied",to="b"} 1.0' in lines
            assert 'trunkguard_pair_state{group="na",state="primary_active"} 0.0' in lines
            assert 'trunkguard_pair_state{group="eu",state="primary_active"} 1.0' in lines
            na_after = series(text, "na")
            changed = {k for k in na_before if na_before[k] != na_after.get(k)}
            assert {'trunkguard_active_carrier{carrier="b",group="na",trunk_group="tb-carrier-b"}',
                    'trunkguard_swaps_total{group="na",result="applied",to="b"}'} <= changed, changed
            assert series(text, "eu") == eu_before, "a failover of na changed none of eu's series"
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
