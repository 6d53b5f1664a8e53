"""End to end with real SIP: two SIPp UAS processes are the carriers, the emulator is the platform,
and `trunkguard run` is a real subprocess with its SQLite store, driven by its own CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Sipp, free_port
from trunkguard.asgi import serving
from trunkguard.store import IntentStatus, Store
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule

pytestmark = [pytest.mark.sipp, pytest.mark.slow]
RULE = "rule-inbound-1"
TOKEN = "e2e-token"


@dataclass
class Lab:
    tmp: Path
    emulator: EmulatorState
    emulator_url: str
    primary: Sipp
    secondary: Sipp
    start_sipp: Callable[..., Sipp]
    api: str

    @property
    def config(self) -> Path:
        return self.tmp / "trunkguard.yaml"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "TRUNKGUARD_CLIENT_ID": "trunkguard", "TRUNKGUARD_CLIENT_SECRET": "lab-secret",
                "TRUNKGUARD_API_TOKEN": TOKEN, "TRUNKGUARD_STATE_DIR": str(self.tmp)}

    def routed_to(self) -> str:
        return str(self.emulator.rules[RULE]["action"]["trunkGroupId"])

    async def start_daemon(self) -> asyncio.subprocess.Process:
        log = (self.tmp / "daemon.log").open("ab")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "trunkguard", "run", "--config", str(self.config), env=self.env,
            stdout=log, stderr=log)
        await self.until(lambda s: s is not None, what="the daemon's API", timeout=20)
        return process

    async def status(self) -> dict[str, Any] | None:
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{self.api}/api/v1/status", timeout=2)).json()  # type: ignore[no-any-return]
        except httpx.HTTPError:
            return None

    async def until(self, check: Callable[[Any], bool], *, what: str, timeout: float = 20) -> float:
        """Poll the daemon's status until `check(status)` holds; returns the seconds it took."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() - start < timeout:
            status = await self.status()
            if check(status):
                return loop.time() - start
            await asyncio.sleep(0.1)
        log = (self.tmp / "daemon.log").read_text()[-3000:]
        raise AssertionError(f"timed out waiting for {what}; daemon log:\n{log}")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trunkguard", *args, "--config", str(self.config)],
                              env=self.env, capture_output=True, text=True, timeout=60)


def _all_up(status: dict[str, Any] | None) -> bool:
    return status is not None and all(t["state"] == "up" for c in status["carriers"].values() for t in c["trunks"])


def rest_of_config(emulator_url: str, store_url: str, api_port: int) -> str:
    """What follows the carriers in these tests' configs: a fast approval policy with only the trunks gate,
    the emulator as the platform, the store and the API."""
    return f"""policy:
  cooling_period: 2s
  poll_interval: 500ms
  failback: {{mode: approval}}
  readiness: {{trunks: true, sweep: false, certs: false, parity: false}}
platform:
  kind: emulator
  base_url: {emulator_url}
  rule_id: {RULE}
  queue_id: primary_inbound_queue_id
  client_id_env: TRUNKGUARD_CLIENT_ID
  client_secret_env: TRUNKGUARD_CLIENT_SECRET
  timeout: 3s
storage: {{url: "{store_url}"}}
api: {{listen: "127.0.0.1:{api_port}", token_env: TRUNKGUARD_API_TOKEN}}
"""


@pytest.fixture
async def lab(tmp_path: Path, sipp_uas: Callable[..., Sipp]) -> AsyncIterator[Lab]:
    state = EmulatorState(rules={RULE: default_rule(RULE, "tg-primary")}, calls={"primary_inbound_queue_id": 0})
    port, api_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    primary, secondary = sipp_uas(), sipp_uas()
    async with serving(create_app(state), "127.0.0.1", port):
        lab = Lab(tmp_path, state, f"http://127.0.0.1:{port}", primary, secondary, sipp_uas,
                  f"http://127.0.0.1:{api_port}")
        lab.config.write_text(f"""
carriers:
  primary:
    trunk_group_id: tg-primary
    health: {{interval: 1s, timeout: 800ms, confirm_interval: 200ms, down_after: 2, confirm_burst: 2, up_after: 2}}
    trunks: [{{name: primary-1, uri: "{primary.uri}"}}]
  secondary:
    trunk_group_id: tg-secondary
    health: {{interval: 1s, timeout: 800ms, confirm_interval: 200ms, down_after: 2, confirm_burst: 2, up_after: 2}}
    trunks: [{{name: secondary-1, uri: "{secondary.uri}"}}]
{rest_of_config(lab.emulator_url, f"sqlite:///{tmp_path}/trunkguard.db", api_port)}""")
        yield lab


async def _stop(process: asyncio.subprocess.Process) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(process.wait(), 15)
    return process.returncode


async def test_primary_dies_one_swap_stays_until_failback_is_approved(lab: Lab) -> None:
    daemon = await lab.start_daemon()
    try:
        await lab.until(_all_up, what="both carriers up")
        lab.primary.stop()
        took = await lab.until(lambda s: s["active"] == "secondary" and s["in_flight"] is None,
                               what="the swap to the secondary")
        assert took < 10, f"cutover took {took:.1f}s"
        assert lab.routed_to() == "tg-secondary" and lab.emulator.writes_applied == 1

        lab.start_sipp(port=lab.primary.port)  # the primary comes back
        await lab.until(lambda s: s["pending_approval"], what="failback to wait for approval", timeout=30)
        await asyncio.sleep(1.5)  # several more cycles: nothing moves without a person
        assert lab.routed_to() == "tg-secondary" and lab.emulator.writes_applied == 1

        approve = lab.cli("failback", "--reason", "carrier A confirmed the fix", "--who", "alice")
        assert approve.returncode == 0, approve.stderr
        assert "failback approved by alice" in approve.stdout
        await lab.until(lambda s: s["active"] == "primary" and s["in_flight"] is None, what="the failback")
        assert lab.routed_to() == "tg-primary" and lab.emulator.writes_applied == 2

        history = json.loads(lab.cli("history", "--json").stdout)["decisions"]
        sentences = [d["sentence"] for d in history]
        assert any(s.startswith("activating the secondary carrier") for s in sentences)
        assert any(s.startswith("returning to the primary carrier: approved by alice") for s in sentences)
        swap = next(d for d in history if d["kind"] == "swap")
        assert swap["evidence"]["trunks"][0]["state"] == "down"  # the evidence behind the decision
        status = json.loads(lab.cli("status", "--json").stdout)
        assert status["active"] == "primary" and status["swaps"] == 2
        text = lab.cli("status").stdout
        assert "primary-1" in text and "secondary-1" in text
    finally:
        assert await _stop(daemon) == 0  # SIGTERM stops it cleanly


async def test_30_percent_api_faults_still_give_exactly_one_applied_swap(lab: Lab) -> None:
    daemon = await lab.start_daemon()
    try:
        await lab.until(_all_up, what="both carriers up")
        async with httpx.AsyncClient() as client:
            await client.post(f"{lab.emulator_url}/_emulator/faults",
                              json={"random_status": 503, "probability": 0.3, "seed": 7})
        lab.primary.stop()
        await lab.until(lambda s: s["active"] == "secondary" and s["in_flight"] is None,
                        what="the swap despite API faults", timeout=40)
        await asyncio.sleep(2)
        assert lab.routed_to() == "tg-secondary"
        assert lab.emulator.writes_applied == 1
    finally:
        await _stop(daemon)
    store = Store(f"sqlite:///{lab.tmp}/trunkguard.db")
    applied = [i for i in store.intents() if i.status is IntentStatus.APPLIED]
    assert len(applied) == 1 and applied[0].prior is not None  # the routing before the swap, for reversal
    store.close()


async def test_sigkill_between_intent_and_read_back_reconciles_without_a_second_swap(lab: Lab) -> None:
    daemon = await lab.start_daemon()
    await lab.until(_all_up, what="both carriers up")
    lab.emulator.faults.append({"method": "PUT", "hold_after_write": 8})  # applied, answer held back
    lab.primary.stop()
    for _ in range(200):
        if lab.emulator.writes_applied == 1:
            break
        await asyncio.sleep(0.05)
    assert lab.emulator.writes_applied == 1
    store = Store(f"sqlite:///{lab.tmp}/trunkguard.db")
    [pending] = store.intents()
    assert pending.status is IntentStatus.PENDING  # the daemon has not seen the read-back
    daemon.send_signal(signal.SIGKILL)
    await daemon.wait()

    daemon = await lab.start_daemon()
    try:
        await lab.until(lambda s: s["active"] == "secondary" and s["in_flight"] is None,
                        what="reconciliation after the restart")
        await asyncio.sleep(2)
        assert lab.emulator.writes_applied == 1 and lab.routed_to() == "tg-secondary"
        [intent] = store.intents()
        assert intent.status is IntentStatus.RECONCILED
        assert "the platform shows tg-secondary" in intent.outcome
        history = json.loads(lab.cli("history", "--json").stdout)["decisions"]
        assert any("committed: inbound routing is on the secondary carrier" in d["sentence"] for d in history)
    finally:
        await _stop(daemon)
        store.close()


async def test_failover_wait_exits_non_zero_when_the_platform_refuses_and_zero_when_it_lands(lab: Lab) -> None:
    daemon = await lab.start_daemon()
    try:
        await lab.until(_all_up, what="both carriers up")
        lab.emulator.faults.append({"method": "PUT", "status": 403, "times": 1000})  # the platform refuses writes
        refused = await asyncio.to_thread(lab.cli, "failover", "--force", "--reason", "drill", "--wait", "20s",
                                          "--json")
        assert refused.returncode != 0, refused.stdout + refused.stderr
        answer = json.loads(refused.stdout)
        assert answer["ok"] is False and answer["swap"]["status"] == "failed"
        assert "HTTP 403" in answer["swap"]["outcome"] and lab.emulator.writes_applied == 0
        lab.emulator.faults.clear()
        landed = await asyncio.to_thread(lab.cli, "failover", "--force", "--reason", "drill", "--wait", "20s")
        assert landed.returncode == 0, landed.stdout + landed.stderr
        assert ": applied:" in landed.stdout and lab.routed_to() == "tg-secondary"
    finally:
        await _stop(daemon)


async def test_observe_mode_says_would_swap_on_a_real_outage_and_writes_nothing(lab: Lab) -> None:
    lab.config.write_text(lab.config.read_text().replace("policy:\n", "policy:\n  mode: observe\n", 1))
    daemon = await lab.start_daemon()
    try:
        await lab.until(_all_up, what="both carriers up")
        assert (await lab.status() or {})["mode"] == "observe"
        lab.primary.stop()
        await lab.until(lambda s: s is not None and s["last_sentence"].startswith("observe mode: would swap"),
                        what="the would-swap decision")
        await asyncio.sleep(2)
        history = json.loads(lab.cli("history", "--json").stdout)["decisions"]
        assert any(d["sentence"].startswith("observe mode: would swap to the secondary carrier") for d in history)
        assert lab.emulator.writes_applied == 0 and lab.routed_to() == "tg-primary"
        status = await lab.status()
        assert status is not None and status["active"] == "primary" and status["swaps"] == 0
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"{lab.api}/metrics")).text
        assert 'trunkguard_observe_mode{group="default"} 1.0' in metrics
        assert "notify would_swap_to_secondary: observe mode: would swap" in (lab.tmp / "daemon.log").read_text()
    finally:
        await _stop(daemon)


async def test_a_trunk_in_maintenance_is_not_judged_until_its_maintenance_ends_by_itself(lab: Lab) -> None:
    daemon = await lab.start_daemon()
    try:
        await lab.until(_all_up, what="both carriers up")
        put = await asyncio.to_thread(lab.cli, "maintenance", "primary-1", "--reason", "carrier works on sbc1",
                                      "--for", "5s")
        assert put.returncode == 0, put.stdout + put.stderr
        assert "trunk primary-1 in maintenance until" in put.stdout
        status = await lab.status()
        assert status is not None and [m["trunk"] for m in status["maintenance"]] == ["primary-1"]
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"{lab.api}/metrics")).text
            assert 'trunkguard_trunk_maintenance{group="default",trunk="primary-1"} 1.0' in metrics
        lab.primary.stop()
        await lab.until(lambda s: s is not None and "every primary trunk is in maintenance" in s["last_sentence"],
                        what="the dead trunk left out of decisions")
        assert lab.emulator.writes_applied == 0
        await lab.until(lambda s: s is not None and s["active"] == "secondary", what="the swap once it ended",
                        timeout=20)
        history = json.loads(lab.cli("history", "--json").stdout)["decisions"]
        assert any("maintenance of primary-1 ended by itself" in d["sentence"] for d in history)
        bad = await asyncio.to_thread(lab.cli, "maintenance", "no-such-trunk", "--reason", "x")
        assert bad.returncode == 2 and "configured trunks" in bad.stdout + bad.stderr
    finally:
        await _stop(daemon)
