"""Everything durable lives in the store: check results gate every replica whatever its working
directory, and the event trace the daemon records replays through another config."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import eventually
from trunkguard.app import Service
from trunkguard.config import parse_config
from trunkguard.core.failover import OperatorAction
from trunkguard.lab.lab import free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault
from trunkguard.sim import replay
from trunkguard.store import Store


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True, check=False,
                          timeout=120, cwd=cwd, env={**os.environ, **(env or {})})


async def test_a_sweep_run_from_another_directory_gates_the_daemon(tmp_path: Path, store_url: str) -> None:
    async with running_lab() as lab:
        text = lab.config_text("fast", storage=store_url, api_listen=f"127.0.0.1:{free_tcp_port()}")
        config = tmp_path / "conf" / "trunkguard.yaml"
        config.parent.mkdir()
        config.write_text(text)
        service = Service.build(parse_config(text), lab_environment("t"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            lab.primary.fault = Fault(down=True)
            await eventually(lambda: "the DID sweep has not run" in service.status().last_sentence,
                             "the daemon to refuse for want of a sweep", detail=lambda: service.status().last_sentence)
            elsewhere = tmp_path / "somewhere-else"
            elsewhere.mkdir()
            for check in ("sweep", "certs", "parity"):
                done = await asyncio.to_thread(_cli, check, "--config", str(config), cwd=elsewhere)
                assert done.returncode == 0, done.stdout + done.stderr
            assert list(elsewhere.iterdir()) == []  # nothing written beside the command: the store has it
            await eventually(lambda: service.status().pair.active == "secondary", "the swap, gated by the store",
                             detail=lambda: service.status().last_sentence)
            assert lab.emulator.writes_applied == 1
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)


async def test_a_stale_check_result_does_not_count_and_says_since_when(tmp_path: Path) -> None:
    async with running_lab() as lab:
        text = lab.config_text("fast", storage=f"sqlite:///{tmp_path}/tg.db", api_listen=f"127.0.0.1:{free_tcp_port()}")
        text = text.replace("readiness: {trunks: true, sweep: true, certs: true, parity: true}",
                            "readiness: {trunks: true, sweep: true, certs: false, parity: false, sweep_max_age: 1h}")
        cfg = parse_config(text)
        store = Store.open(cfg.storage.url)
        store.save_check("sweep", "secondary", True, 1000.0, "20/20 DIDs answered", {})  # decades ago
        store.close()
        service = Service.build(cfg, lab_environment("t"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            lab.primary.fault = Fault(down=True)
            await eventually(lambda: "the DID sweep: stale since 1970-01-01 01:16:40 UTC" in
                             service.status().last_sentence, "the stale gate named",
                             detail=lambda: service.status().last_sentence)
            assert lab.emulator.writes_applied == 0
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)


async def test_the_recorded_trace_replays_through_another_config(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tg.db"
    async with running_lab() as lab:
        text = lab.config_text("fast", storage=url, api_listen=f"127.0.0.1:{free_tcp_port()}")
        text = text.replace("readiness: {trunks: true, sweep: true, certs: true, parity: true}",
                            "readiness: {trunks: true, sweep: false, certs: false, parity: false}")
        config = tmp_path / "trunkguard.yaml"
        config.write_text(text)
        service = Service.build(parse_config(text), lab_environment("t"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            await asyncio.sleep(3)
            lab.primary.fault = Fault(down=True)
            await eventually(lambda: service.status().pair.active == "secondary", "the swap")
            await asyncio.sleep(3)
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
    store = Store(url)
    recorded = replay.from_store(store)
    store.close()
    kinds = {type(e).__name__ for _, e in recorded.events}
    assert {"Tick", "ProbeDone", "ProbeLate", "CallsRead", "SwapSettled", "LeaseChanged"} <= kinds
    assert any(d["sentence"].startswith("activating the secondary") for d in recorded.decisions)

    same = _cli("replay", "--config", str(config), "--json", cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    data = json.loads(same.stdout)
    assert [s["to"] for s in data["swaps"]] == ["secondary"] and len(data["happened"]["swaps"]) == 1
    assert abs(data["swaps"][0]["at_s"] - data["happened"]["swaps"][0]["at_s"]) < 1.5  # the same outage, seen again

    # 40 failed checks to go down, and 40 failed test calls: longer than the recorded outage. (With
    # only the first, a test call cut short by the outage and its failed re-test swap it on media.)
    strict = tmp_path / "strict.yaml"
    strict.write_text(text.replace("down_after: 3,", "down_after: 40,")
                      .replace("number: '+15550009999'}", "number: '+15550009999', down_after: 40}"))
    other = _cli("replay", "--config", str(strict), cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert "swaps this config makes: none" in other.stdout
    assert "-activating the secondary carrier" in other.stdout  # the diff names the swap that would not happen

    away = _cli("status", "--config", str(config), "--json", cwd=tmp_path)  # the daemon has stopped
    assert away.returncode == 3, away.stderr  # the stored view only
    stored = json.loads(away.stdout)
    assert stored["source"] == "store" and stored["active"] == "secondary" and stored["state"] == "secondary_active"
    assert 0 <= stored["age_s"] < 60 and stored["stored_at"].endswith("Z") and stored["lease"]["term"] >= 1
    text_view = _cli("status", "--config", str(config), cwd=tmp_path)
    assert "stored view: the daemon at" in text_view.stdout and "routing: secondary carrier" in text_view.stdout
    history = _cli("history", "--config", str(config), "--json", cwd=tmp_path)
    assert json.loads(history.stdout)["source"] == "store"
    assert any(d["sentence"].startswith("committed: inbound routing is on the secondary")
               for d in json.loads(history.stdout)["decisions"])

    exported = tmp_path / "trace.jsonl"
    assert _cli("replay", "--config", str(config), "--export", str(exported), cwd=tmp_path).returncode == 0
    again = _cli("replay", "--config", str(config), "--trace", str(exported), "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["swaps"] == data["swaps"]  # the file replays exactly as the store did


def test_a_bad_trace_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "trace.jsonl"
    bad.write_text('{"type": "event", "at": 1, "kind": "Tick", "data": {}}\nnot json\n')
    config = Path(__file__).resolve().parent.parent / "examples" / "single-trunk.yaml"
    done = _cli("replay", "--config", str(config), "--trace", str(bad), cwd=tmp_path)
    assert done.returncode == 2 and "line 2: not a trace line" in done.stderr


async def test_a_night_replays_through_its_own_config_as_it_happened(tmp_path: Path) -> None:
    """Rollout item 7: a lab night with a maintenance window, a sweep gate, two swaps and an approval, replayed
    with the daemon's own config, gives the same swaps at the same moments (within 1 s) and no decision diff.
    Before: the maintenance never ended on the replay clock, the sweep gate was not replayed (the replay
    swapped before the real gate allowed it), swap keys differed, and a swap at the trace's end was lost."""
    url = f"sqlite:///{tmp_path}/tg.db"
    async with running_lab() as lab:
        text = lab.config_text("fast", storage=url, api_listen=f"127.0.0.1:{free_tcp_port()}")
        text = text.replace("readiness: {trunks: true, sweep: true, certs: true, parity: true}",
                            "readiness: {trunks: true, sweep: true, certs: false, parity: false}")
        config = tmp_path / "trunkguard.yaml"
        config.write_text(text)
        service = Service.build(parse_config(text), lab_environment("t"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        status = service.status
        try:
            await eventually(lambda: status().leader and all(h.state.value == "up" for h in status().health.values()),
                             "carriers up", detail=lambda: status().last_sentence)
            now = time.time()
            said = await service.runtime.submit(OperatorAction("maintenance", "dora", "SBC work", now, "carrier-a-1",
                                                               now + 5.0))  # the primary is down well within it
            assert said and said[0].startswith("trunk carrier-a-1 in maintenance until")
            lab.primary.fault = Fault(down=True)  # dies during the window: not judged until it ends
            await eventually(lambda: "the DID sweep has not run" in status().last_sentence, "the sweep gate",
                             detail=lambda: status().last_sentence)
            swept = await asyncio.to_thread(_cli, "sweep", "--config", str(config), cwd=tmp_path)
            assert swept.returncode == 0, swept.stdout + swept.stderr
            await eventually(lambda: status().pair.active == "secondary", "the first swap",
                             detail=lambda: status().last_sentence)
            lab.primary.fault = Fault()
            await service.runtime.submit(OperatorAction("failback", "erin", "carrier ticket closed", time.time()))
            await eventually(lambda: status().pair.active == "primary", "the approved failback", timeout=30,
                             detail=lambda: status().last_sentence)
            await asyncio.sleep(2)  # the night goes on a little: the replay's probes may see the recovery later
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
    assert lab.emulator.writes_applied == 2
    same = _cli("replay", "--config", str(config), "--json", cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    data = json.loads(same.stdout)
    happened = data["happened"]["swaps"]
    assert [s["to"] for s in data["swaps"]] == ["secondary", "primary"] and len(happened) == 2, data
    for replayed, real in zip(data["swaps"], happened, strict=True):
        assert abs(replayed["at_s"] - real["at_s"]) < 1.0, (replayed, real)
    assert data["diff"] == [], "\n".join(data["diff"])


def test_a_partial_sweeps_share_survives_the_trace() -> None:
    from trunkguard.core.failover import Readiness
    from trunkguard.core.machine import ChecksRead
    from trunkguard.store.codec import event_from_json, event_to_json

    event = ChecksRead(Readiness(False, True, True, sweep_ready=0.9, sweep_unready=("+15550000007",)))
    assert event_from_json(*event_to_json(event)) == event
