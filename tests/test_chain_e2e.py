"""A chain of three carriers end to end: three SIPp UAS processes are carriers a, b and c, and the
store is PostgreSQL. First the generic platform emulator switches the routing rule and `trunkguard
run` is a real subprocess driven by its own CLI; then the daemon's service runs against the Genesys
Cloud emulator.

b dies first (so it is not ready), then a: routing goes to c, the sentence naming b as skipped.
Both come back: a failback approval moves one step, to b; a second moves home to a."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Sipp, _postgres_schema, eventually, free_port
from tests.test_daemon_e2e import RULE, Lab, _stop, rest_of_config
from tests.test_engine_genesys import ENV, genesys_platform
from trunkguard.app import Service
from trunkguard.asgi import serving
from trunkguard.config import parse_config
from trunkguard.core.failover import OperatorAction, PairSnapshot
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule
from trunkguard.testing.genesys_emulator import byoc_org, create_genesys_app

pytestmark = [pytest.mark.sipp, pytest.mark.slow]
HEALTH = "{interval: 1s, timeout: 800ms, confirm_interval: 200ms, down_after: 2, confirm_burst: 2, up_after: 2}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _postgres_schema()


@pytest.fixture
async def chain_lab(tmp_path: Path, sipp_uas: Callable[..., Sipp], pg_url: str) -> AsyncIterator[tuple[Lab, Sipp]]:
    state = EmulatorState(rules={RULE: default_rule(RULE, "tg-a")}, calls={"primary_inbound_queue_id": 0})
    port, api_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    a, b, c = sipp_uas(), sipp_uas(), sipp_uas()
    async with serving(create_app(state), "127.0.0.1", port):
        lab = Lab(tmp_path, state, f"http://127.0.0.1:{port}", a, b, sipp_uas, f"http://127.0.0.1:{api_port}")
        carriers = "".join(f"""
  {name}:
    trunk_group_id: tg-{name}
    health: {HEALTH}
    trunks: [{{name: {name}-1, uri: "{peer.uri}"}}]""" for name, peer in (("a", a), ("b", b), ("c", c)))
        lab.config.write_text(f"""
chain: [a, b, c]
carriers:{carriers}
{rest_of_config(lab.emulator_url, pg_url, api_port)}""")
        yield lab, c


async def test_a_dead_first_carrier_moves_to_the_third_skipping_the_second_and_back_one_step_at_a_time(
        chain_lab: tuple[Lab, Sipp]) -> None:
    lab, _ = chain_lab
    b = lab.secondary
    daemon = await lab.start_daemon()
    try:
        await lab.until(lambda s: s is not None and all(t["state"] == "up" for c in s["carriers"].values()
                                                        for t in c["trunks"]), what="three carriers up")
        b.stop()
        await lab.until(lambda s: s["carriers"]["b"]["usable"] == 0, what="b down")
        assert lab.routed_to() == "tg-a" and lab.emulator.writes_applied == 0  # b down while a is fine: nothing
        lab.primary.stop()
        took = await lab.until(lambda s: s["active"] == "c" and s["in_flight"] is None, what="the move to c")
        assert took < 10, f"cutover took {took:.1f}s"
        assert lab.routed_to() == "tg-c" and lab.emulator.writes_applied == 1

        lab.start_sipp(port=lab.primary.port)
        lab.start_sipp(port=b.port)
        await lab.until(lambda s: s["pending_approval"] and all(t["state"] == "up" for c in s["carriers"].values()
                                                                for t in c["trunks"]),
                        what="a and b up, failback waiting for approval", timeout=30)
        # (no --wait: the emulator answers from this process's loop, which a blocking CLI call holds)
        step = lab.cli("failback", "--reason", "a and b are back", "--who", "alice")
        assert step.returncode == 0, step.stderr + step.stdout
        await lab.until(lambda s: s["active"] == "b" and s["in_flight"] is None, what="one step up, to b")
        assert lab.routed_to() == "tg-b" and lab.emulator.writes_applied == 2
        home = lab.cli("failback", "--reason", "home", "--who", "alice", "--to", "a")
        assert home.returncode == 0, home.stderr + home.stdout
        await lab.until(lambda s: s["active"] == "a" and s["in_flight"] is None, what="home to a", timeout=30)
        assert lab.routed_to() == "tg-a" and lab.emulator.writes_applied == 3

        sentences = [d["sentence"] for d in json.loads(lab.cli("history", "--json").stdout)["decisions"]]
        moved = next(s for s in sentences if s.startswith("activating carrier c"))
        assert "carrier b not ready (no b trunk is usable" in moved, moved
        assert any(s.startswith("returning to carrier b: approved by alice") for s in sentences)
        assert any(s.startswith("returning to carrier a: approved by alice") for s in sentences)
    finally:
        assert await _stop(daemon) == 0


async def test_a_chain_of_three_on_genesys_orders_the_routes_and_names_the_active_carrier_in_the_row(
        tmp_path: Path, sipp_uas: Callable[..., Sipp], pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's service in this process against the Genesys Cloud emulator, three SIPp carriers and
    PostgreSQL: a down while b is down moves the outbound route to c > a > b and the row to c; two
    approvals bring it back one step at a time, b > a > c, then the order recorded before the first swap."""
    monkeypatch.setenv("TRUNKGUARD_STATE_DIR", str(tmp_path))
    org = byoc_org(more=("tb-carrier-c",))
    a, b, c = sipp_uas(), sipp_uas(), sipp_uas()
    port = free_port(socket.SOCK_STREAM)
    carriers = "".join(f"""
  {name}: {{trunk_group_id: tb-carrier-{name}, health: {HEALTH}, trunks: [{{name: {name}1, uri: "{peer.uri}"}}]}}"""
                       for name, peer in (("a", a), ("b", b), ("c", c)))
    cfg = parse_config(f"""
chain: [a, b, c]
carriers:{carriers}
policy:
  poll_interval: 300ms
  cooling_period: 1s
  readiness: {{sweep: false, certs: false, parity: false}}
{genesys_platform(port)}storage: {{url: "{pg_url}"}}
api: {{listen: "127.0.0.1:{free_port(socket.SOCK_STREAM)}", token_env: TG_TOKEN}}
""")
    service = Service.build(cfg, ENV)
    stop = asyncio.Event()

    def pair() -> PairSnapshot:
        return service.status().pair

    def order() -> list[str]:
        return [t["id"].removeprefix("tb-carrier-") for t in org.routes["route-1"]["externalTrunkBases"]]

    async with serving(create_genesys_app(org), "127.0.0.1", port):
        task = asyncio.create_task(service.run(stop))
        try:
            await eventually(lambda: all(h.state.value == "up" for h in service.status().health.values()),
                             "three carriers up", detail=lambda: service.status().last_sentence)
            b.stop()
            await eventually(lambda: service.status().health["b1"].state.value == "down", "b down")
            a.stop()
            await eventually(lambda: pair().active == "c" and pair().in_flight is None, "the move to c",
                             detail=lambda: service.status().last_sentence)
            assert order() == ["c", "a", "b"], order()
            assert org.rows[("dt-carrier", "active")] == {"key": "active", "activeCarrier": "c",
                                                          "trunkBaseId": "tb-carrier-c"}
            assert org.trunks["trunk-tb-carrier-a"]["inService"] is False
            writes = len(org.writes)

            sipp_uas(port=a.port)
            sipp_uas(port=b.port)
            # both back before the approval: with b still down, the next step up would be a (b skipped)
            await eventually(lambda: all(h.state.value == "up" for h in service.status().health.values())
                             and pair().state.value == "failback_pending", "a and b up, failback pending",
                             timeout=30, detail=lambda: service.status().last_sentence)
            await service.runtime.submit(OperatorAction("failback", "alice", "b is back", time.time()))
            await eventually(lambda: pair().active == "b" and pair().in_flight is None, "one step up, to b",
                             detail=lambda: service.status().last_sentence)
            assert order() == ["b", "a", "c"], order()
            assert org.rows[("dt-carrier", "active")]["activeCarrier"] == "b"
            assert org.trunks["trunk-tb-carrier-a"]["inService"] is False  # a is still not the active carrier
            assert len(org.writes) == writes + 2  # the route and the row

            await eventually(lambda: pair().state.value == "failback_pending", "failback pending again", timeout=30)
            await service.runtime.submit(OperatorAction("failback", "alice", "a is back", time.time()))
            await eventually(lambda: pair().active == "a" and pair().in_flight is None, "home to a",
                             detail=lambda: service.status().last_sentence)
            assert order() == ["a", "b", "c"], order()  # the order recorded before the first swap
            assert org.trunks["trunk-tb-carrier-a"]["inService"] is True
            moved = [d["sentence"] for d in service.store.history(100) if d["sentence"].startswith("activating")]
            assert moved and "carrier b not ready (no b trunk is usable" in moved[0], moved
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
