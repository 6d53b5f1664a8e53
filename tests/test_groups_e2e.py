"""Two routing groups end to end: the daemon's service in this process, four SIPp carriers, the
Genesys Cloud emulator and PostgreSQL (issue 27, item 2).

Group na routes route-1 by the chain a > b > c and names its carrier in data-table row `na`; group eu
routes route-2 by x > c and names its carrier in row `eu`. Carrier c is in both chains: its trunk is
probed once. a dies: na moves to b, and nothing of eu's is written. x dies: eu moves to c. A failback
approval for eu (given with its group) brings eu home to x and leaves na on b."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.conftest import Sipp, _postgres_schema, eventually, free_port
from tests.test_engine_genesys import ENV
from trunkguard.app import Service
from trunkguard.asgi import serving
from trunkguard.config import Config, parse_config
from trunkguard.core.failover import OperatorAction, PairSnapshot
from trunkguard.rules import sim_world
from trunkguard.sim.replay import from_store, replay
from trunkguard.testing.genesys_emulator import GenesysState, byoc_org, create_genesys_app

pytestmark = [pytest.mark.sipp, pytest.mark.slow]
HEALTH = "{interval: 1s, timeout: 800ms, confirm_interval: 200ms, down_after: 2, confirm_burst: 2, up_after: 2}"


def two_groups_org(na: tuple[str, ...], eu: tuple[str, ...]) -> GenesysState:
    """A BYOC org for two groups: route-1 and data-table row `na` by na's chain, route-2 and row `eu` by
    eu's; a carrier named x is trunk base tb-carrier-x."""
    org = byoc_org(more=tuple(f"tb-carrier-{c}" for c in dict.fromkeys((*na, *eu)) if c not in "ab"), row="na")
    org.routes["route-1"]["externalTrunkBases"] = [{"id": f"tb-carrier-{n}", "name": f"Carrier {n.upper()}"}
                                                   for n in na]
    org.add_route("route-2", "site-1", [f"tb-carrier-{n}" for n in eu], name="EMEA Outbound Route")
    for group, chain in (("na", na), ("eu", eu)):
        org.rows[("dt-carrier", group)] = {"key": group, "activeCarrier": chain[0],
                                           "trunkBaseId": f"tb-carrier-{chain[0]}"}
    return org


def genesys(port: int) -> str:
    """The shared platform section for the emulator of `two_groups_org` at `port`: each group adds its routes
    and its row."""
    return f"""platform:
  kind: genesys
  base_url: http://127.0.0.1:{port}
  datatable_id: dt-carrier
  client_id_env: GC_CLIENT_ID
  client_secret_env: GC_CLIENT_SECRET
"""


def two_groups_config(peers: Mapping[str, Sipp], port: int, na: tuple[str, ...], eu: tuple[str, ...],
                      storage: str, api_port: int, *, eu_policy: str = "{}") -> Config:
    """The two groups on the emulator of `two_groups_org` at `port`, one SIPp per carrier, fast timings."""
    carriers = "".join(f"""
  {name}: {{trunk_group_id: tb-carrier-{name}, health: {HEALTH}, trunks: [{{name: {name}1, uri: "{peer.uri}"}}]}}"""
                       for name, peer in peers.items())
    return parse_config(f"""
carriers:{carriers}
groups:
  na:
    chain: [{", ".join(na)}]
    platform: {{outbound_routes: [route-1], datatable_row: na}}
  eu:
    chain: [{", ".join(eu)}]
    policy: {eu_policy}
    platform: {{outbound_routes: [route-2], datatable_row: eu}}
policy:
  poll_interval: 300ms
  cooling_period: 1s
  readiness: {{sweep: false, certs: false, parity: false}}
{genesys(port)}storage: {{url: "{storage}"}}
api: {{listen: "127.0.0.1:{api_port}", token_env: TG_TOKEN}}
""")


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _postgres_schema()


async def test_two_groups_fail_over_apart_on_genesys_with_a_shared_carrier_probed_once(
        tmp_path: Path, sipp_uas: Callable[..., Sipp], pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUNKGUARD_STATE_DIR", str(tmp_path))
    na, eu = ("a", "b", "c"), ("x", "c")
    org = two_groups_org(na, eu)
    peers = {name: sipp_uas() for name in ("a", "b", "c", "x")}
    port = free_port(socket.SOCK_STREAM)
    cfg = two_groups_config(peers, port, na, eu, pg_url, free_port(socket.SOCK_STREAM),
                            eu_policy="{failback: {mode: approval}}")
    service = Service.build(cfg, ENV)
    stop = asyncio.Event()
    # the store kept the config's routing before it had groups: that `default` group is nobody's now
    seed = service.store.acquire_lease("before-groups", 5.0)
    assert seed is not None
    service.store.save(seed, time.time(), PairSnapshot(active="a"))
    service.store.release_lease("before-groups", seed)
    probes: dict[str, int] = {}
    notified: list[str] = []
    service.runtime.subscribe(lambda kind, data: probes.__setitem__(data["trunk"], probes.get(data["trunk"], 0) + 1)
                              if kind == "probe" else None)
    service.runtime.subscribe(lambda kind, data: notified.append(data["message"]) if kind == "notify" else None)

    def pair(group: str) -> PairSnapshot:
        view = service.status().group(group)
        assert view is not None
        return view.pair

    def order(route: str) -> list[str]:
        return [t["id"].removeprefix("tb-carrier-") for t in org.routes[route]["externalTrunkBases"]]

    def writes_to(route: str, row: str) -> list[str]:
        return [w for w in org.written if w.endswith(f"/{route}") or w == f"row/dt-carrier/{row}"]

    async with serving(create_genesys_app(org), "127.0.0.1", port):
        task = asyncio.create_task(service.run(stop))
        try:
            await eventually(lambda: all(h.state.value == "up" for h in service.status().health.values())
                             and service.status().leader and service.status().routing_read,
                             "four carriers up, the lease taken, both groups' routing read",
                             detail=lambda: service.status().last_sentence)
            await eventually(lambda: any(m.startswith("the store keeps routing groups the config does not have "
                                                      "(default)") for m in notified), "the default group paged",
                             detail=lambda: notified)
            started, counted = time.monotonic(), dict(probes)
            await asyncio.sleep(3.0)
            rate = {t: (probes.get(t, 0) - counted.get(t, 0)) / (time.monotonic() - started) for t in probes}
            assert rate["c1"] <= 1.5 * max(rate["a1"], rate["x1"]), rate  # c is in two groups, probed once

            eu_writes = len(writes_to("route-2", "eu"))
            peers["a"].stop()
            await eventually(lambda: pair("na").active == "b" and pair("na").in_flight is None, "na moves to b",
                             detail=lambda: service.status().last_sentence)
            assert order("route-1") == ["b", "a", "c"] and order("route-2") == ["x", "c"]
            assert org.rows[("dt-carrier", "na")]["activeCarrier"] == "b"
            assert org.rows[("dt-carrier", "eu")]["activeCarrier"] == "x"
            assert len(writes_to("route-2", "eu")) == eu_writes, "nothing of eu's was written"
            assert pair("eu").active == "x" and pair("eu").swaps == 0

            peers["x"].stop()
            await eventually(lambda: pair("eu").active == "c" and pair("eu").in_flight is None, "eu moves to c",
                             detail=lambda: service.status().last_sentence)
            assert order("route-2") == ["c", "x"] and org.rows[("dt-carrier", "eu")]["activeCarrier"] == "c"
            assert order("route-1") == ["b", "a", "c"], "na's route untouched by eu's move"

            sipp_uas(port=peers["x"].port)
            await eventually(lambda: pair("eu").state.value == "failback_pending", "eu failback pending",
                             timeout=30, detail=lambda: service.status().last_sentence)
            said = await service.runtime.submit(OperatorAction("failback", "alice", "x is back", time.time(),
                                                               group="eu"))
            assert said and said[0].startswith("group eu: failback approved by alice"), said
            await eventually(lambda: pair("eu").active == "x" and pair("eu").in_flight is None, "eu home to x",
                             detail=lambda: service.status().last_sentence)
            assert order("route-2") == ["x", "c"] and pair("na").active == "b"

            history = service.store.history(200)
            assert {d["group"] for d in history} >= {"na", "eu"}
            eu_moves = [d for d in history if d["group"] == "eu" and d["intent_key"]]
            assert eu_moves and all("-eu-" in d["intent_key"] for d in eu_moves), eu_moves
            assert service.store.load_snapshot(group="na").active == "b"  # type: ignore[union-attr]
            assert service.store.load_snapshot(group="eu").active == "x"  # type: ignore[union-attr]
            await asyncio.sleep(2)  # the night goes on a little: the replay's probes may see the recovery later
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    # The night replays through the same config: the same swaps, each group's, at the same moments.
    replayed = replay(sim_world(cfg), from_store(service.store))
    happened = replayed.happened_swaps
    assert len(happened) == 3 and len(replayed.result.swaps) == 3, (happened, replayed.result.swaps)
    assert [s["group"] for s in replayed.result.swaps] == ["na", "eu", "eu"]
    for again, real in zip(replayed.result.swaps, happened, strict=True):
        assert abs(again["at_s"] - real["at_s"]) < 1.0, (again, real)
    # The moves say the same, group by group (the edge view's age and the order of sentences within one
    # moment follow the replay's own probe schedule).
    def moves(said: list[tuple[float, str]]) -> list[str]:
        return [re.sub(r" \(its view \d+ms old\)", "", s) for _, s in said
                if s.startswith(("group na: ", "group eu: ")) and " failback approved " not in s]

    assert moves(replayed.happened) == moves(replayed.replayed) and len(moves(replayed.happened)) == 6, \
        "\n".join(replayed.diff())


async def test_a_config_with_one_named_group_reads_that_groups_calls(
        tmp_path: Path, sipp_uas: Callable[..., Sipp], monkeypatch: pytest.MonkeyPatch) -> None:
    """One group under `groups:` is named as the config says, not `default`: its breaker's calls are read
    under its name (they were read for `default`, which it is not, and stayed unknown)."""
    monkeypatch.setenv("TRUNKGUARD_STATE_DIR", str(tmp_path))
    org = two_groups_org(("a", "b"), ("x", "b"))
    a, b = sipp_uas(), sipp_uas()
    port = free_port(socket.SOCK_STREAM)
    service = Service.build(parse_config(f"""
carriers:
  a: {{trunk_group_id: tb-carrier-a, health: {HEALTH}, trunks: [{{name: a1, uri: "{a.uri}"}}]}}
  b: {{trunk_group_id: tb-carrier-b, health: {HEALTH}, trunks: [{{name: b1, uri: "{b.uri}"}}]}}
groups:
  na: {{chain: [a, b], platform: {{outbound_routes: [route-1], datatable_row: na}}}}
policy: {{poll_interval: 300ms, readiness: {{sweep: false, certs: false, parity: false}}}}
{genesys(port)}storage: {{url: "sqlite:///{tmp_path}/tg.db"}}
api: {{listen: "127.0.0.1:{free_port(socket.SOCK_STREAM)}", token_env: TG_TOKEN}}
"""), ENV)
    stop = asyncio.Event()
    async with serving(create_genesys_app(org), "127.0.0.1", port):
        task = asyncio.create_task(service.run(stop))
        try:
            await eventually(lambda: service.status().group("na") is not None
                             and service.status().group("na").calls is not None,  # type: ignore[union-attr]
                             "group na's calls read", detail=lambda: service.status().last_sentence)
            assert [g.name for g in service.status().routing_groups] == ["na"]
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
