"""Correlated detection: a carrier's trunks share its fate, so one trunk's suspicion starts the
confirmation of the others at once; each trunk still needs its own failures to go DOWN."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sipp, eventually
from trunkguard.app import Service
from trunkguard.asgi import serving
from trunkguard.config import Config, parse_config
from trunkguard.core.machine import ProbeDone
from trunkguard.lab.lab import free_tcp_port
from trunkguard.rules import sim_world
from trunkguard.sim.runner import Simulation
from trunkguard.sim.scenario import Scenario
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule


def _config(n: int, *, correlate: bool = True, cap: int | None = None) -> Config:
    extra = f", correlate: {'true' if correlate else 'false'}" + (f", correlate_max_probes: {cap}" if cap else "")
    primary = ", ".join(f'{{name: p{i}, uri: "sip:127.0.0.1:5070"}}' for i in range(n))
    return parse_config(f"""carriers:
  primary:
    trunk_group_id: tg-primary
    health: {{interval: 15s, timeout: 2s, down_after: 3{extra}}}
    trunks: [{primary}]
  secondary:
    trunk_group_id: tg-secondary
    trunks: [{{name: s0, uri: "sip:127.0.0.1:5072"}}]
""")


def _outage(cfg: Config, onset: float, trunks: list[str], duration: float = 120) -> Simulation:
    events = [{"at": onset, "trunk": t, "condition": "down"} for t in trunks]
    sim = Simulation(sim_world(cfg), Scenario.model_validate({"duration": onset + duration, "events": events}), seed=1)
    sim.run()
    return sim


def _cutovers(n: int, correlate: bool, phases: int = 20) -> list[float]:
    cfg = _config(n, correlate=correlate)
    out = []
    for k in range(phases):
        onset = 150 + 15 * k / phases
        sim = _outage(cfg, onset, [f"p{i}" for i in range(n)])
        out.append(sim.result.swaps[0]["at_s"] - onset)
    return out


def test_a_carrier_wide_outage_is_confirmed_on_every_trunk_as_soon_as_the_first_sees_it() -> None:
    alone, together = _cutovers(10, correlate=False), _cutovers(10, correlate=True)
    assert max(together) <= 6.0  # issue 16: at most 6 s with 10 trunks (worst of the onsets)
    assert max(alone) > 15.0  # without it, the last trunk's own probe comes round a whole interval later
    assert statistics.median(together) < statistics.median(alone) / 2


def test_the_sentence_names_the_trunk_whose_suspicion_started_it() -> None:
    sim = _outage(_config(4), 150.0, ["p0", "p1", "p2", "p3"])
    downs = [s for _, s in sim.result.timeline if " is down: " in s]
    assert len(downs) == 4
    started = [s for s in downs if "(confirmation started by " in s]
    assert len(started) == 3  # the first saw it itself; the other three were told
    assert all("'s suspicion " in s and " s earlier)" in s for s in started)


def test_one_trunks_broken_path_takes_no_other_trunk_down() -> None:
    sim = _outage(_config(2), 150.0, ["p1"], duration=600)
    downs = [s for _, s in sim.result.timeline if " is down" in s]
    assert downs and all(s.startswith("trunk p1 ") for s in downs)
    assert sim.state.trunks[sim.rules.index["p0"]].state.value == "up"
    assert sim.result.swaps == []
    sent = [e for _, e, _ in sim.steps if isinstance(e, ProbeDone) and e.trunk == "p0"]
    assert sent and all(e.ok for e in sent)  # the healthy trunk answered every probe, correlated or not


class CountingSimulation(Simulation):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.correlated: dict[int, int] = {}

    def _launch(self, task: Any, now: float) -> None:
        if task.kind == "correlate":
            window = int(now // 15)
            self.correlated[window] = self.correlated.get(window, 0) + 1
        super()._launch(task, now)


def test_a_lossy_carrier_receives_no_more_correlated_probes_than_the_cap() -> None:
    cfg = _config(10, cap=7)
    events = [{"at": 0, "trunk": f"p{i}", "condition": {"loss": 0.3}} for i in range(10)]
    sim = CountingSimulation(sim_world(cfg), Scenario.model_validate({"duration": 6 * 3600, "events": events}), seed=5)
    sim.run()
    assert max(sim.correlated.values()) == 7  # the cap is reached (30 % loss raises many suspicions) ...
    assert all(v <= 7 for v in sim.correlated.values())  # ... and never passed in any interval
    assert sim.result.swaps == []  # and correlation makes no false swap


def test_correlation_can_be_switched_off() -> None:
    events = [{"at": 150.0, "trunk": f"p{i}", "condition": "down"} for i in range(4)]
    scenario = Scenario.model_validate({"duration": 300, "events": events})
    on = CountingSimulation(sim_world(_config(4)), scenario, seed=1)
    off = CountingSimulation(sim_world(_config(4, correlate=False)), scenario, seed=1)
    on.run()
    off.run()
    assert sum(on.correlated.values()) == 3 and sum(off.correlated.values()) == 0
    assert not any("(confirmation started by " in s for _, s in off.result.timeline)


# ---- against SIPp ----------------------------------------------------------------------------------


@pytest.mark.sipp
async def test_one_trunk_of_two_losing_its_path_against_sipp(sipp_uas: Callable[..., Sipp], tmp_path: Path) -> None:
    """Two SIPp peers are the primary's two SBCs: one dies. Its trunk goes down, the other stays up
    (its correlated probe was answered), and nothing is swapped."""
    a, b, s = sipp_uas(), sipp_uas(), sipp_uas()
    state = EmulatorState(client_id="tg", client_secret="s", rules={"r": default_rule("r", "tg-primary")},
                          calls={"q": 0})
    port = free_tcp_port()
    text = f"""carriers:
  primary:
    trunk_group_id: tg-primary
    health: {{interval: 1s, timeout: 800ms, confirm_interval: 100ms, down_after: 2, confirm_burst: 3}}
    trunks: [{{name: p1, uri: "{a.uri}"}}, {{name: p2, uri: "{b.uri}"}}]
  secondary:
    trunk_group_id: tg-secondary
    trunks: [{{name: s1, uri: "{s.uri}"}}]
policy: {{readiness: {{sweep: false, certs: false, parity: false}}, poll_interval: 500ms}}
platform: {{kind: emulator, base_url: "http://127.0.0.1:{port}", rule_id: r, queue_id: q,
           client_id_env: ID, client_secret_env: SECRET}}
storage: {{url: "sqlite:///{tmp_path}/tg.db"}}
api: {{listen: "127.0.0.1:{free_tcp_port()}", token_env: TOKEN}}
"""
    async with serving(create_app(state), "127.0.0.1", port):
        service = Service.build(parse_config(text), {"ID": "tg", "SECRET": "s", "TOKEN": "t"})
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            await eventually(lambda: service.status().leader and service.status().samples.recent.get("p2"),
                             "the first probes")
            b.stop()
            await eventually(lambda: service.status().health["p2"].state.value == "down", "p2 down",
                             detail=lambda: service.status().last_sentence)
            await asyncio.sleep(3)  # several more rounds, with p2's suspicions probing p1 each time
            status = service.status()
            assert status.health["p1"].state.value == "up" and status.health["p1"].usable
            assert status.pair.active == "primary" and state.writes_applied == 0
            p1 = status.samples.recent["p1"]
            assert len(p1) >= 5 and all(sample.ok for sample in p1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
