"""The engine's safety rules on the lab: a lost lease stops every action, and a store that cannot
be written stops a swap before the platform is touched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from trunkguard.api.view import status_json
from trunkguard.app import Service
from trunkguard.config import parse_config
from trunkguard.config_checks import run_readiness
from trunkguard.lab.lab import Lab, free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault
from trunkguard.store import Store


@dataclass
class Running:
    lab: Lab
    service: Service
    url: str
    store_url: str

    async def until(self, check: Callable[[], object], what: str, timeout: float = 20) -> None:
        await eventually(check, what, timeout=timeout, detail=lambda: self.service.status().last_sentence)


@pytest.fixture
async def running(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    async with running_lab() as lab:
        listen = f"127.0.0.1:{free_tcp_port()}"
        cfg = parse_config(lab.config_text("fast", storage=store_url, api_listen=listen))
        await run_readiness(cfg)
        service = Service.build(cfg, lab_environment("t"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        r = Running(lab, service, f"http://{listen}", store_url)
        await r.until(lambda: r.service.status().leader
                      and all(h.state.value == "up" for h in r.service.status().health.values()),
                      "carriers up")
        yield r
        stop.set()
        await asyncio.wait_for(task, 20)


async def test_a_replica_that_lost_its_lease_stops_acting(running: Running) -> None:
    other = Store(running.store_url)
    later = time.time() + 3600  # the other replica's clock: this one's lease has long expired
    assert other.acquire_lease("replica-b", ttl=7200, now=later) == 2
    running.lab.primary.fault = Fault(down=True)
    await running.until(lambda: not running.service.status().leader, "the lost lease to be noticed")
    await asyncio.sleep(2.5)  # the primary is long confirmed down by now
    assert running.lab.routed_to() == "tg-primary" and running.lab.emulator.writes_applied == 0
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{running.url}/leader")).status_code == 503
        refused = await client.post(f"{running.url}/api/v1/actions", headers={"Authorization": "Bearer t"},
                                    json={"kind": "failover", "reason": "try"})
    assert refused.status_code == 503 and "does not hold the lease" in refused.json()["error"]
    assert status_json(running.service.status())["last_sentence"].startswith("standby")
    other.close()


async def test_an_intent_that_cannot_be_stored_is_not_carried_out(running: Running) -> None:
    other = Store(running.store_url)
    with other.engine.begin() as conn:  # a person or a bad migration breaks the intents table
        conn.exec_driver_sql("DROP TABLE intents")
    running.lab.primary.fault = Fault(down=True)
    await running.until(lambda: not running.service.status().store_ok, "the store trouble")
    await asyncio.sleep(1.5)
    assert running.lab.emulator.writes_applied == 0 and running.service.status().pair.in_flight is None
    assert running.service.status().pair.active == "primary"  # nothing undone, nothing half done
    other.close()


async def test_the_daemon_re_runs_the_free_readiness_checks_itself(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with running_lab() as lab:
        text = lab.config_text("fast", storage=f"sqlite:///{tmp_path}/tg.db",
                               api_listen=f"127.0.0.1:{free_tcp_port()}")
        cfg = parse_config(text)
        service = Service.build(cfg, lab_environment("t"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        reader = Store(cfg.storage.url)

        def stored() -> dict[str, Any]:
            return reader.latest_checks("secondary")

        try:
            await eventually(lambda: {"certs", "parity"} <= set(stored()),
                             "the certificate and parity checks at start-up")
            assert stored()["parity"]["ok"] is True
            assert stored()["parity"]["term"] == service.status().facts.term  # written by the leader, fenced
            assert "sweep" not in stored()  # test calls to every DID only when asked (sweep_interval)
        finally:
            reader.close()
            stop.set()
            await asyncio.wait_for(task, 20)


async def test_a_swap_whose_outcome_was_stored_but_not_its_snapshot_settles_at_start_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from trunkguard.core.failover import PairSnapshot, PairState, Swap
    from trunkguard.store import IntentStatus

    url = f"sqlite:///{tmp_path}/tg.db"
    store = Store.open(url)  # a crash right after the outcome was written, before the snapshot after it
    term = store.acquire_lease("old-host", ttl=0.001, now=0)
    assert term == 1
    swap = Swap("secondary", "automatic", "primary carrier unusable", "swap-1-to-secondary", 10.0)
    store.begin_intent(term, 10.0, swap, "tg-secondary",
                       replace(PairSnapshot(), state=PairState.ACTIVATING, in_flight=swap, swaps=1),
                       sentence="activating the secondary carrier", evidence={})
    store.finish_intent(term, swap.key, IntentStatus.APPLIED, "written and read back", 10.2)
    store.close()
    async with running_lab() as lab:
        lab.emulator.rules["rule-inbound-1"]["action"]["trunkGroupId"] = "tg-secondary"
        cfg = parse_config(lab.config_text("fast", storage=url, api_listen=f"127.0.0.1:{free_tcp_port()}"))
        service = Service.build(cfg, lab_environment("t"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            await eventually(lambda: service.status().pair.in_flight is None
                             and service.status().pair.active == "secondary",
                             "the swap to settle from its stored outcome")
            assert lab.emulator.writes_applied == 0  # settled from the record, nothing written again
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
