"""Idempotency keys are unique for all time: a fresh store's first swap never reuses a key the
platform has already seen (the platform's idempotency cache would answer it with an old reply)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import eventually
from trunkguard.app import Service
from trunkguard.config import parse_config
from trunkguard.lab.lab import RULE, free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault
from trunkguard.rules import swap_key_prefix
from trunkguard.store import Store


def test_every_process_draws_its_own_key_prefix() -> None:
    prefixes = {swap_key_prefix() for _ in range(1000)}
    assert len(prefixes) == 1000 and all(p.startswith("swap-") and len(p) == 17 for p in prefixes)


async def test_a_fresh_stores_first_swap_uses_a_key_never_used_before(tmp_path: Path) -> None:
    keys: list[str] = []
    async with running_lab() as lab:
        for name in ("first", "second"):  # two deployments, each with a brand-new store, one platform
            url = f"sqlite:///{tmp_path}/{name}.db"
            text = lab.config_text("fast", storage=url, api_listen=f"127.0.0.1:{free_tcp_port()}")
            text = text.replace("readiness: {trunks: true, sweep: true, certs: true, parity: true}",
                                "readiness: {trunks: true, sweep: false, certs: false, parity: false}")
            service = Service.build(parse_config(text), lab_environment("t"))
            lab.primary.fault = Fault()
            lab.emulator.rules[RULE]["action"]["trunkGroupId"] = "tg-primary"
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))
            try:
                await asyncio.sleep(1.5)
                lab.primary.fault = Fault(down=True)
                await eventually(lambda: service.status().pair.active == "secondary"  # noqa: B023
                                 and service.status().pair.in_flight is None, "the swap")  # noqa: B023
            finally:
                stop.set()
                await asyncio.wait_for(task, 20)
            store = Store(url)
            intents = store.intents()
            store.close()
            assert [i.status.value for i in intents] == ["applied"]  # no failed first attempt, no retry
            keys.append(intents[0].key)
    assert keys[0] != keys[1] and all(k.endswith("-1-to-secondary") for k in keys)
    assert lab.emulator.writes_applied == 2  # both writes landed: neither got a cached answer
    assert set(lab.emulator.idempotency) >= set(keys)
