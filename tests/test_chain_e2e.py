"""A chain of three carriers end to end: three SIPp UAS processes are carriers a, b and c, the
generic platform emulator switches the routing rule, the store is PostgreSQL, and `trunkguard run`
is a real subprocess driven by its own CLI.

b dies first (so it is not ready), then a: routing goes to c, the sentence naming b as skipped.
Both come back: a failback approval moves one step, to b; a second moves home to a."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Sipp, _postgres_schema, free_port
from tests.test_daemon_e2e import RULE, Lab, _stop
from trunkguard.asgi import serving
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule

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
policy:
  cooling_period: 2s
  poll_interval: 500ms
  failback: {{mode: approval}}
  readiness: {{trunks: true, sweep: false, certs: false, parity: false}}
platform:
  kind: emulator
  base_url: {lab.emulator_url}
  rule_id: {RULE}
  queue_id: primary_inbound_queue_id
  client_id_env: TRUNKGUARD_CLIENT_ID
  client_secret_env: TRUNKGUARD_CLIENT_SECRET
  timeout: 3s
storage: {{url: "{pg_url}"}}
api: {{listen: "127.0.0.1:{api_port}", token_env: TRUNKGUARD_API_TOKEN}}
""")
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
        await lab.until(lambda s: s["pending_approval"], what="failback to wait for approval", timeout=30)
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
