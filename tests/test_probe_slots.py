"""The probe runner's slots: at most MAX_IN_FLIGHT probes at once, the rest sent in the order they
were asked for as slots free (a freed slot goes straight to the oldest waiting probe)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.conftest import free_port
from trunkguard.config import parse_config
from trunkguard.core.events import Event, ProbeDone, ProbeLate
from trunkguard.core.scheduler import ProbeTask
from trunkguard.rules import probe_plan
from trunkguard.runtime import probes


async def test_probes_over_the_limit_wait_and_go_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes, "MAX_IN_FLIGHT", 2)
    silent = free_port(socket.SOCK_DGRAM)  # nobody answers: each probe ends at its own deadline
    cfg = parse_config(f"""carriers:
  primary:
    trunk_group_id: tg-primary
    health: {{interval: 5s, timeout: 300ms}}
    trunks: [{{name: p1, uri: "sip:127.0.0.1:{silent}"}}]
  secondary:
    trunk_group_id: tg-secondary
    trunks: [{{name: s1, uri: "sip:127.0.0.2:{silent}"}}]
""")
    loop = asyncio.get_running_loop()
    seen: list[tuple[float, Event]] = []
    runner = probes.ProbeRunner(probe_plan(cfg), lambda e: seen.append((loop.time(), e)), clock=loop.time)
    try:
        started = loop.time()
        for seq in range(1, 7):
            runner.launch(ProbeTask("p1", seq, "options", 0.3))
        deadline = started + 5
        while sum(isinstance(e, ProbeDone) for _, e in seen) < 6 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        done = [(at - started, e.seq) for at, e in seen if isinstance(e, ProbeDone)]
        assert [seq for _, seq in done] == [1, 2, 3, 4, 5, 6]  # in the order asked for
        # two at a time: three waves, each a 300 ms deadline after the one before
        waves = [round(at / 0.3) for at, _ in done]
        assert waves == [1, 1, 2, 2, 3, 3], done
        assert not any(isinstance(e, ProbeLate) for _, e in seen)  # timeout 300 ms: under T1, no T1 mark
    finally:
        await runner.close()
