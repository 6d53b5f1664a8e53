"""`run` and `simulate` drive one machine: the same event trace through the daemon's runtime (its
real loop code, with the I/O parts replaced by recorders) and through the simulator gives the
same decisions and the same sentences, in the same order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from trunkguard.config import load_config
from trunkguard.core.machine import Event, MachineState, initial
from trunkguard.rules import sim_world
from trunkguard.runtime.loop import Runtime
from trunkguard.runtime.parts import Parts
from trunkguard.runtime.probes import Sample, Samples
from trunkguard.sim.runner import READY, Simulation
from trunkguard.sim.scenario import Scenario
from trunkguard.store.codec import event_from_json, event_to_json

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = Scenario.model_validate({"duration": 3600, "events": [
    {"at": 0, "trunk": "primary-1", "condition": {"loss": 0.3}},
    {"at": 600, "active_calls": 12},
    {"at": 900, "trunk": "primary-1", "condition": "down"},
    {"at": 1200, "trunk": "primary-1", "condition": "up"},
    {"at": 1300, "operator": "ack", "who": "alice", "reason": "seen"},
    {"at": 1500, "operator": "failback", "who": "alice", "reason": "carrier fixed it"},
    {"at": 2000, "trunk": "primary-1", "condition": {"code": 503}},
    {"at": 2400, "operator": "pause", "who": "bob", "reason": "maintenance"},
    {"at": 3000, "operator": "resume", "who": "bob", "reason": "done"},
]})
CHAIN_SCENARIO = Scenario.model_validate({"duration": 3600, "events": [  # examples/chain.yaml: three carriers
    {"at": 100, "trunk": "b-1", "condition": "down"},
    {"at": 900, "trunk": "a-1", "condition": "down"},
    {"at": 1100, "trunk": "b-1", "condition": "up"},
    {"at": 1200, "trunk": "a-1", "condition": "up"},
    {"at": 1500, "operator": "failback", "who": "alice", "reason": "b is back"},
    {"at": 2000, "operator": "failback", "who": "alice", "reason": "a is back"},
    {"at": 2500, "trunk": "a-1", "condition": {"code": 503}},
]})
GROUPS_SCENARIO = Scenario.model_validate({"duration": 3600, "events": [  # examples/groups.yaml: na and eu
    {"at": 100, "trunk": "na-b-1", "condition": "down"},
    {"at": 900, "trunk": "na-a-1", "condition": "down"},
    {"at": 1000, "trunk": "eu-x-1", "condition": "down"},
    {"at": 1100, "trunk": "na-b-1", "condition": "up"},
    {"at": 1200, "trunk": "na-a-1", "condition": "up"},
    {"at": 1300, "trunk": "eu-x-1", "condition": "up"},
    {"at": 1500, "operator": "failback", "who": "alice", "reason": "x is back", "group": "eu"},
    {"at": 2400, "operator": "pause", "who": "bob", "reason": "carrier work", "group": "na"},
    {"at": 3000, "operator": "resume", "who": "bob", "reason": "done", "group": "na"},
]})
CASES = {  # config, scenario, and sentences the trace must hold (it exercises what it is meant to)
    "pair": ("single-trunk.yaml", SCENARIO, ("activating the secondary", "returning to the primary carrier: approved "
                                             "by alice", "paused by bob")),
    "chain": ("chain.yaml", CHAIN_SCENARIO, ("activating carrier carrier-c: no carrier-a trunk answers SIP, carrier "
                                             "carrier-b not ready", "returning to carrier carrier-b: approved by alice",
                                             "returning to carrier carrier-a: approved by alice",
                                             "activating carrier carrier-b")),
    "groups": ("groups.yaml", GROUPS_SCENARIO, ("group na: activating carrier shared-c: no na-a trunk answers SIP, "
                                                "carrier na-b not ready", "group eu: activating carrier shared-c",
                                                "group eu: returning to carrier eu-x: approved by alice",
                                                "group na: returning to carrier na-b", "group na: paused by bob")),
}


@dataclass
class Taken:
    """Every part's calls, in order: what the runtime asked the world to do."""

    calls: list[tuple[str, Any]] = field(default_factory=list)


class FakeClock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _parts(taken: Taken, groups: tuple[str, ...] = ("default",)) -> Parts:
    class Probes:
        def launch(self, task: Any) -> None:
            taken.calls.append(("probe", task))

        def note(self, event: Any, now: float) -> None:
            taken.calls.append(("sample", event.trunk))

        def samples(self) -> Samples:
            return Samples({}, {}, {})

        def samples_of(self, trunks: list[str]) -> Samples:
            return Samples({}, {}, {})

    class Anything:
        def __init__(self, name: str) -> None:
            self.name = name

        def __getattr__(self, method: str) -> Any:
            def record(*args: Any, **_kw: Any) -> Any:
                taken.calls.append((f"{self.name}.{method}", args[:2]))
                return None
            return record

    recorder, alerts, pollers, actuator = (Anything(n) for n in ("recorder", "alerts", "pollers", "actuator"))
    actuator.group = groups[0]  # type: ignore[attr-defined]  # the first routing group's
    every = {g: (actuator, Anything("routing")) for g in groups} if len(groups) > 1 else {}
    return Parts(link=Anything("link"), lease=Anything("lease"), alerts=alerts, recorder=recorder,  # type: ignore[arg-type]
                 probes=Probes(), pollers=pollers, actuator=actuator, dispatcher=Anything("dispatcher"),  # type: ignore[arg-type]
                 vantages=Anything("vantages"), groups=every)  # type: ignore[arg-type]


def _simulated(name: str = "single-trunk.yaml", scenario: Scenario = SCENARIO,
               ) -> tuple[Simulation, list[tuple[float, Event, tuple[str, ...]]]]:
    config = load_config(ROOT / "examples" / name)
    sim = Simulation(sim_world(config), scenario, seed=3)
    sim.run()
    return sim, sim.steps


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_trace_gives_the_same_decisions_in_the_daemon_and_the_simulator(case: str) -> None:
    name, scenario, expected = CASES[case]
    sim, steps = _simulated(name, scenario)
    said = [s for _, _, sentences in steps for s in sentences]
    for words in expected:  # the trace exercises a real outage, and what the case is about
        assert any(s.startswith(words) for s in said), (words, [s for s in said if "carrier" in s][:40])
    assert len(steps) > 500

    # Through the daemon's runtime: the loop's own feed(), with a clock set to each event's time.
    clock = FakeClock()
    runtime = Runtime(sim.rules, initial(sim.rules, 0.0, leader=True, readiness=READY), {}, clock)
    taken = Taken()
    runtime._parts = _parts(taken, tuple(g.name for g in sim.rules.groups))  # attach() would publish a status, which needs the real parts
    daemon_said: list[tuple[float, tuple[str, ...]]] = []

    async def drive() -> MachineState:
        for now, event, _ in steps:
            clock.now = now
            daemon_said.append((now, runtime.feed(event).sentences))
        return runtime._state

    final = asyncio.run(drive())
    assert daemon_said == [(now, sentences) for now, _, sentences in steps]
    assert final == sim.state

    # Through a second simulator, fed the same trace with its world switched off.
    replayed = Simulation(sim_world(load_config(ROOT / "examples" / name)), scenario, seed=99)
    replayed._launch = lambda task, now: None  # type: ignore[method-assign]
    replayed._at = lambda when, item: None  # type: ignore[method-assign]
    for now, event, _ in steps:
        replayed.feed(now, event)
    assert [s for _, _, s in replayed.steps] == [s for _, _, s in steps]
    assert replayed.state == sim.state

    # And the runtime asked its parts for what the machine said: one probe launch per probe sent.
    launches = sum(1 for kind, _ in taken.calls if kind == "probe")
    assert launches == sim.result.probes_sent
    swaps = [args for kind, args in taken.calls if kind == "actuator.start"]
    assert [a[0].swap.to for a in swaps] == [s["to"] for s in sim.result.swaps]


def test_every_event_kind_survives_the_trace_codec() -> None:
    _, steps = _simulated()
    kinds = set()
    for _, event, _ in steps:
        kind, data = event_to_json(event)
        kinds.add(kind)
        assert event_from_json(kind, data) == event
    assert {"Tick", "ProbeDone", "ProbeLate", "CallsRead", "OperatorDid", "SwapSettled"} <= kinds


def test_a_sample_keeps_what_the_probe_found() -> None:
    sample = Sample(1.5, "options", False, 503, 1.2, "rejected 503")
    assert sample.as_dict() == {"at": 1.5, "kind": "options", "ok": False, "code": 503, "rtt_ms": 1.2,
                                "detail": "rejected 503"}
