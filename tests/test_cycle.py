"""`trunkguard cycle` run by a scheduler: every 5 s here, a new process each time, against the lab, with
every fact in the store. One swap on an outage, none while the primary stays down, no return during
cooling or without approval, and the approval queued in the store carried out by the next cycle."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from trunkguard.config import parse_config
from trunkguard.config_checks import run_readiness
from trunkguard.lab.lab import free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault
from trunkguard.store import Store

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
EVERY = 5.0  # the scheduler's period


async def _cycle(config: Path, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "trunkguard", "cycle", "--config",
                                                   str(config), "--json", env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert out, err.decode()[-2000:]
    return process.returncode or 0, json.loads(out)


async def _cli(config: Path, env: dict[str, str], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "trunkguard", *args, "--config", str(config),
                                                   env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_a_scheduled_cycle_swaps_once_and_keeps_cooling_and_approval_across_runs(tmp_path: Path) -> None:
    async with running_lab() as lab:
        text = lab.config_text("fast", storage=f"sqlite:///{tmp_path}/tg.db",
                               api_listen=f"127.0.0.1:{free_tcp_port()}").replace("cooling_period: ", "cooling_period: 16s #", 1)
        config = tmp_path / "trunkguard.yaml"
        config.write_text(text)
        await run_readiness(parse_config(text))
        env = {**os.environ, **lab_environment("t")}
        runs: list[tuple[str, int, dict[str, Any]]] = []

        async def tick(label: str) -> int:
            started = time.monotonic()
            code, result = await _cycle(config, env)
            runs.append((label, code, result))
            await asyncio.sleep(max(0.0, EVERY - (time.monotonic() - started)))
            return code

        def routed() -> str:
            return lab.routed_to()

        try:
            assert await tick("healthy") == 0 and routed() == "tg-primary"
            lab.primary.fault = Fault(down=True)
            assert await tick("primary dies") == 10 and routed() == "tg-secondary"
            assert lab.emulator.writes_applied == 1
            assert await tick("still down") == 0 and lab.emulator.writes_applied == 1
            lab.primary.fault = Fault()
            codes = [await tick("recovered") for _ in range(4)]
            assert routed() == "tg-secondary" and lab.emulator.writes_applied == 1  # cooling, then approval: no return
            assert "cooling period" in runs[3][2]["sentence"], runs[3]  # the first run after recovery: cooling
            assert codes[-1] == 12 and "needs a person's approval" in runs[-1][2]["sentence"]
            queued = await _cli(config, env, "failback", "--queue", "--reason", "carrier A fixed it", "--who", "erin")
            assert "queued in the store for the next `trunkguard cycle`" in queued
            assert await tick("approved") == 10 and routed() == "tg-primary"
            assert runs[-1][2]["actions"] and "failback approved by erin (carrier A fixed it)" in runs[-1][2]["actions"][0]
            assert await tick("back home") == 0 and lab.emulator.writes_applied == 2
        finally:
            for label, code, result in runs:
                print(f"{label:>14}: exit {code} in {result.get('seconds')}s: {result.get('sentence')}")
        store = Store(f"sqlite:///{tmp_path}/tg.db")
        try:
            assert [(i.to_role, i.status.value) for i in store.intents()] == [("secondary", "applied"),
                                                                              ("primary", "applied")]
            assert store.queued_actions() == []  # taken
            assert store.lease() is not None and store.lease()["left_s"] <= 0  # each run gave the lease up
        finally:
            store.close()




async def test_the_lambda_handler_runs_one_cycle_and_raises_on_trouble(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("lambda_handler", ROOT / "deploy" / "lambda" / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    async with running_lab() as lab:
        text = lab.config_text("fast", storage=f"sqlite:///{tmp_path}/tg.db", api_listen=f"127.0.0.1:{free_tcp_port()}")
        config = tmp_path / "trunkguard.yaml"
        config.write_text(text)
        await run_readiness(parse_config(text))
        for key, value in {**lab_environment("t"), "TRUNKGUARD_CONFIG": str(config),
                           "TRUNKGUARD_CYCLE_DEADLINE": "30"}.items():
            monkeypatch.setenv(key, value)
        lab.primary.fault = Fault(down=True)
        result = await asyncio.to_thread(module.handler, {"source": "aws.events"}, None)
        assert result["code"] == 10 and result["outcome"] == "swapped" and lab.routed_to() == "tg-secondary"
        assert result["sentence"].startswith("swapped to the secondary carrier (automatic): no primary trunk")
        monkeypatch.setenv("TRUNKGUARD_CYCLE_DEADLINE", "0.2")  # too short to probe: the run cannot finish
        with pytest.raises(RuntimeError, match="trunkguard cycle: trouble"):
            await asyncio.to_thread(module.handler, {}, None)
