"""The daemon reads the platform's routing on taking the lease, before it acts (rollout item 2).

With a fresh store while the platform already routes to the secondary, `status` used to say "routing:
primary carrier". Now the machine adopts what the platform shows, says so in a sentence, pages
`routing_drift`, and writes nothing. A platform that cannot be read holds every action back until it
answers. The first tests drive the pure machine; the last ones run the daemon on the lab.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import eventually
from trunkguard.api.view import status_json
from trunkguard.app import Service
from trunkguard.config import parse_config
from trunkguard.config_checks import run_readiness
from trunkguard.core.failover import Notify, OperatorAction, PairSnapshot, PairState
from trunkguard.core.machine import LeaseChanged, OperatorDid, RoutingRead, StartSwap, initial, step
from trunkguard.lab.lab import Lab, free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault
from trunkguard.rules import machine_rules

CONFIG = parse_config("""
carriers:
  primary: {trunk_group_id: tg-a, trunks: [{name: a-1, uri: "sip:127.0.0.1:5070"}]}
  secondary: {trunk_group_id: tg-b, trunks: [{name: b-1, uri: "sip:127.0.0.1:5072"}]}
""")


def _leader(restored: PairSnapshot | None = None) -> Any:
    rules = machine_rules(CONFIG)
    s = step(initial(rules, 0.0), LeaseChanged(True, restored, "took the lease", await_routing=True), 1.0, rules)
    return rules, s


def test_nothing_is_decided_until_the_routing_is_read() -> None:
    rules, s = _leader()
    assert s.sentences[-1] == "reading the platform's routing before acting"
    assert not s.state.routing_read and not any(isinstance(e, StartSwap) for e in s.effects)
    refused = step(s.state, OperatorDid(OperatorAction("failover", "ann", "drill", 2.0)), 2.0, rules)
    assert refused.sentences == ("failover by ann refused: the platform's routing has not been read yet (trunkguard "
                                 "acts only on what the platform shows)",)
    assert refused.state.pair.in_flight is None


def test_the_platform_routing_elsewhere_is_adopted_named_and_paged_never_written() -> None:
    rules, s = _leader()
    read = step(s.state, RoutingRead("secondary", "rule-1 version 4 routes to tg-b"), 2.0, rules)
    assert read.state.pair.active == "secondary" and read.state.pair.state is PairState.SECONDARY_ACTIVE
    assert read.state.pair.activated_at == 2.0  # the cooling period starts now: no failback at once
    assert read.sentences[0] == ("the platform routes to the secondary carrier (read at start-up); the store said "
                                 "primary: adopting the platform's state")
    pages = [e for e in read.effects if isinstance(e, Notify)]
    assert [p.kind for p in pages] == ["routing_drift"] and "trunkguard wrote nothing" in pages[0].message
    assert not any(isinstance(e, StartSwap) for e in read.effects)


def test_the_same_routing_as_the_store_says_pages_nothing() -> None:
    rules, s = _leader()
    read = step(s.state, RoutingRead("primary", "rule-1 version 1 routes to tg-a"), 2.0, rules)
    assert read.state.routing_read and read.state.pair.active == "primary"
    assert not any(isinstance(e, Notify) for e in read.effects)


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    async with running_lab() as lab:
        yield lab


async def _daemon(lab: Lab, tmp_path: Path) -> tuple[Service, asyncio.Event, asyncio.Task[None]]:
    listen = f"127.0.0.1:{free_tcp_port()}"
    cfg = parse_config(lab.config_text("fast", storage=f"sqlite:///{tmp_path / 'fresh.db'}", api_listen=listen))
    await run_readiness(cfg)
    service = Service.build(cfg, lab_environment("t"))
    stop = asyncio.Event()
    return service, stop, asyncio.create_task(service.run(stop))


async def test_a_fresh_store_adopts_a_platform_already_on_the_secondary(lab: Lab, tmp_path: Path) -> None:
    lab.emulator.rules["rule-inbound-1"]["action"]["trunkGroupId"] = "tg-secondary"  # someone switched it
    service, stop, task = await _daemon(lab, tmp_path)
    try:
        await eventually(lambda: status_json(service.status())["active"] == "secondary", "the platform's routing adopted",
                         timeout=15, detail=lambda: service.status().last_sentence)
        await asyncio.sleep(1.5)  # the recorder writes in batches
        history = [d["sentence"] for d in service.store.history(50)]
        assert any(s.startswith("the platform routes to the secondary carrier (read at start-up); the store said "
                                "primary: adopting the platform's state") for s in history), history
        assert lab.emulator.writes_applied == 0 and lab.routed_to() == "tg-secondary"
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def test_a_platform_that_cannot_be_read_holds_every_action_back(lab: Lab, tmp_path: Path) -> None:
    lab.emulator.faults.append({"method": "GET", "path": "/api/v2/telephony/routes/rules", "status": 503,
                                "times": 1_000_000})
    service, stop, task = await _daemon(lab, tmp_path)
    try:
        await eventually(lambda: service.status().last_sentence.startswith(
            "not acting until the platform's routing is read"), "the held-back daemon", timeout=15,
            detail=lambda: service.status().last_sentence)
        lab.primary.fault = Fault(down=True)  # the primary dies meanwhile: still no write
        await asyncio.sleep(3.0)
        assert lab.emulator.writes_applied == 0
        assert service.status().last_sentence.startswith("not acting until the platform's routing is read")
        lab.emulator.faults.clear()  # the platform answers again: it reads, then acts
        await eventually(lambda: lab.routed_to() == "tg-secondary", "the swap once the routing is read", timeout=20,
                         detail=lambda: service.status().last_sentence)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def test_a_drift_is_adopted_named_paged_and_held_not_undone() -> None:
    """Issue 24 item 5: a routing change made behind trunkguard's back, found by the drift check."""
    rules, s = _leader(PairSnapshot())
    state = step(s.state, RoutingRead("primary", "rule-1 version 1 routes to tg-a"), 2.0, rules).state
    drift = step(state, RoutingRead("secondary", "rule-1 version 2 routes to tg-b", "drift check", hold=True), 300.0,
                 rules)
    pair = drift.state.pair
    assert pair.active == "secondary" and pair.state is PairState.PAUSED and pair.paused is not None
    assert pair.paused.who == "trunkguard" and "outside trunkguard" in pair.paused.why
    assert drift.sentences[0].startswith("the platform routes to the secondary carrier (drift check: rule-1 version 2 "
                                         "routes to tg-b); trunkguard last wrote the primary carrier: adopting")
    [page] = [e for e in drift.effects if isinstance(e, Notify)]
    assert page.kind == "routing_drift" and "`trunkguard resume` accepts it" in page.message
    assert not any(isinstance(e, StartSwap) for e in drift.effects)


async def test_the_daemons_drift_check_adopts_a_change_it_did_not_write(lab: Lab, tmp_path: Path) -> None:
    listen = f"127.0.0.1:{free_tcp_port()}"
    text = lab.config_text("fast", storage=f"sqlite:///{tmp_path / 'tg.db'}", api_listen=listen)
    cfg = parse_config(text.replace("  timeout: 3s\n", "  timeout: 3s\n  drift_check: 1s\n"))
    await run_readiness(cfg)
    service = Service.build(cfg, lab_environment("t"))
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await eventually(lambda: service.status().leader and service.status().routing_read, "the routing read",
                         timeout=15)
        lab.emulator.rules["rule-inbound-1"]["action"]["trunkGroupId"] = "tg-secondary"  # a terraform apply
        lab.emulator.rules["rule-inbound-1"]["version"] += 1
        await eventually(lambda: service.status().pair.active == "secondary", "the drift adopted", timeout=15,
                         detail=lambda: service.status().last_sentence)
        assert service.status().pair.paused is not None
        lab.primary.fault = Fault()  # nothing to do with it: trunkguard writes nothing back
        await asyncio.sleep(2.5)
        assert lab.emulator.writes_applied == 0 and lab.routed_to() == "tg-secondary"
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
