"""Routing groups in the one machine (issue 27, item 2): groups share the trunks and decide apart.

Two groups: `na` with the chain a > b > c and `eu` with x > c; carrier c is in both, so its trunks
are probed once and their health counts for both. The machine is driven here as the daemon drives
it (ticks hand out probes, probe results come back), with the swaps committed as the platform would.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from trunkguard.config import parse_config
from trunkguard.core.events import (
    CallsRead,
    LeaseChanged,
    OperatorDid,
    ProbeDone,
    SendProbe,
    StartSwap,
    SwapSettled,
    Tick,
)
from trunkguard.core.failover import Notify, OperatorAction, PolicyRules, Readiness
from trunkguard.core.health import HealthRules
from trunkguard.core.machine import GroupRules, MachineRules, MachineState, initial, step
from trunkguard.core.scheduler import TrunkSpec, spread
from trunkguard.rules import sim_world
from trunkguard.sim.runner import Simulation
from trunkguard.sim.scenario import Scenario

READY = Readiness(sweep_ok=True, certs_ok=True, parity_ok=True)
CARRIERS = {"a": 3, "b": 2, "c": 2, "x": 3}
NA = PolicyRules(chain=("a", "b", "c"), key_prefix="t-na", cooling_period=30.0)
EU = PolicyRules(chain=("x", "c"), key_prefix="t-eu", cooling_period=30.0)


def rules(na: PolicyRules = NA, eu: PolicyRules = EU) -> MachineRules:
    specs = [TrunkSpec(f"{c}{i}", c, 1.0, 0.5, 0.1, HealthRules(down_after=2, up_after=2, confirm_burst=1))
             for c, n in CARRIERS.items() for i in range(1, n + 1)]
    return MachineRules(tuple(spread(specs)), na, groups=(GroupRules("na", na), GroupRules("eu", eu)))


class Night:
    """The machine on a clock of its own: probes answered by whichever carriers are alive."""

    def __init__(self, machine_rules: MachineRules | None = None) -> None:
        self.rules = machine_rules or rules()
        self.now = 0.0
        self.state: MachineState = initial(self.rules, 0.0, readiness=READY)
        self.dead: set[str] = set()
        self.swaps: list[StartSwap] = []
        self.notes: list[Notify] = []
        self.probes: Counter[str] = Counter()
        self.feed(LeaseChanged(True, detail="test"))

    def feed(self, event: object) -> None:
        result = step(self.state, event, self.now, self.rules)  # type: ignore[arg-type]
        self.state = result.state
        for effect in result.effects:
            if isinstance(effect, SendProbe):
                self.probes[effect.task.trunk] += 1
                carrier = self.rules.trunks[self.rules.index[effect.task.trunk]].carrier
                self.feed(ProbeDone(effect.task.trunk, effect.task.seq, carrier not in self.dead))
            elif isinstance(effect, StartSwap):
                self.swaps.append(effect)
                self.feed(SwapSettled(effect.swap.key, True, group=effect.group))
            elif isinstance(effect, Notify):
                self.notes.append(effect)

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now = round(self.now + 0.05, 2)
            self.feed(Tick())

    def active(self, group: str) -> str:
        g = self.state.group(group)
        assert g is not None
        return g.pair.active


def test_one_groups_outage_moves_only_that_groups_routing() -> None:
    night = Night()
    night.run(3.0)
    night.dead = {"a"}
    night.run(5.0)
    assert [(s.group, s.swap.to) for s in night.swaps] == [("na", "b")]
    assert night.active("na") == "b" and night.active("eu") == "x"
    assert {n.group for n in night.notes} == {"na"}, "eu was told nothing"
    assert all(n.message.startswith("group na: ") for n in night.notes)
    assert night.state.group("na").pair.state.value == "secondary_active"  # type: ignore[union-attr]


def test_a_carrier_in_two_groups_is_probed_once_and_counts_for_both() -> None:
    night = Night()
    night.run(10.0)
    per_trunk = {t: n for t, n in night.probes.items()}
    assert all(9 <= n <= 11 for n in per_trunk.values()), per_trunk  # one probe per interval each, c's not two
    night.dead = {"a", "b", "x"}  # both groups' first carriers, and na's second: c takes both
    night.run(5.0)
    assert sorted((s.group, s.swap.to) for s in night.swaps) == [("eu", "c"), ("na", "c")]
    keys = [s.swap.key for s in night.swaps]
    assert len(set(keys)) == 2 and {k.split("-")[1] for k in keys} == {"na", "eu"}, keys
    na = next(s for s in night.swaps if s.group == "na")
    assert na.sentence.startswith("group na: activating carrier c: ") and "carrier b not ready" in na.sentence


def test_a_persons_action_acts_on_its_own_group_only() -> None:
    night = Night()
    night.run(2.0)
    night.feed(OperatorDid(OperatorAction("failover", "ana", "drill", night.now, group="eu")))
    assert [(s.group, s.swap.to) for s in night.swaps] == [("eu", "c")]
    assert night.active("na") == "a"
    night.feed(OperatorDid(OperatorAction("pause", "ana", "look", night.now, group="na")))
    assert night.state.group("na").pair.paused is not None  # type: ignore[union-attr]
    assert night.state.group("eu").pair.paused is None  # type: ignore[union-attr]
    before = night.state
    result = step(night.state, OperatorDid(OperatorAction("failover", "ana", "x", night.now, group="apac")),
                  night.now, night.rules)
    assert result.state.groups == before.groups and "there is no group 'apac' (groups: na, eu)" in result.sentences[0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "x"]), st.floats(0.5, 6.0)), max_size=6))
def test_outages_of_one_groups_own_carriers_never_write_the_other_groups_routing(
        outages: list[tuple[str, float]]) -> None:
    night = Night()
    night.run(2.0)
    for carrier, seconds in outages:
        night.dead ^= {carrier}
        night.run(seconds)
    for s in night.swaps:
        own = {"na": {"a", "b", "c"}, "eu": {"x", "c"}}[s.group]
        assert s.swap.to in own
        # eu's only dying carrier is x: it never swaps because of a or b, and na never because of x
        if s.group == "eu":
            assert any(c == "x" for c, _ in outages), s
        else:
            assert any(c in ("a", "b") for c, _ in outages), s
    in_flight = [g for g in night.state.groups if g.pair.in_flight is not None]
    assert not in_flight, "every swap settled"


def test_each_groups_breaker_counts_its_own_calls() -> None:
    strict = {"hard_down_bypass": False}  # the breaker holds even a hard-down carrier's move
    night = Night(rules(replace(NA, **strict), replace(EU, **strict)))
    night.run(2.0)
    night.feed(CallsRead(40, group="na"))  # na is busy; eu is quiet
    night.feed(CallsRead(0, group="eu"))
    night.dead = {"a", "x"}
    night.run(5.0)
    assert [(s.group, s.swap.to) for s in night.swaps] == [("eu", "c")], "eu's quiet routing moved"
    na = night.state.group("na")
    assert na is not None and na.pair.state.value == "activating" and na.calls == 40, "na's breaker holds it"
    assert "40 active calls" in na.last_sentence or "40 live calls" in na.last_sentence, na.last_sentence


def test_a_shared_trunks_maintenance_counts_in_every_group_that_routes_to_its_carrier() -> None:
    night = Night()
    night.run(2.0)
    night.feed(OperatorDid(OperatorAction("maintenance", "ana", "SBC work", night.now, trunk="c1", until=night.now + 60,
                                          group="na")))
    for name in ("na", "eu"):
        g = night.state.group(name)
        assert g is not None and [m.trunk for m in g.pair.maintenance] == ["c1"], name
    night.feed(OperatorDid(OperatorAction("maintenance_end", "ana", "done", night.now, trunk="c1", group="eu")))
    assert all(not g.pair.maintenance for g in night.state.groups)
    night.feed(OperatorDid(OperatorAction("maintenance", "ana", "work", night.now, trunk="a1", group="na")))
    eu = night.state.group("eu")
    assert eu is not None and not eu.pair.maintenance, "a1's carrier is not in eu's chain"


def test_the_simulator_reads_the_calls_of_a_config_whose_one_group_has_a_name() -> None:
    config = parse_config(Path(__file__).resolve().parent.parent.joinpath("examples", "groups.yaml").read_text())
    one = sim_world(config)
    na_only = replace(one, rules=MachineRules(one.rules.trunks, one.rules.groups[0].policy,
                                              groups=(one.rules.groups[0],)))
    sim = Simulation(na_only, Scenario.model_validate({"duration": 60, "events": [{"at": 0, "active_calls": 7}]}),
                     seed=1)
    sim.run()
    na = sim.state.group("na")
    assert na is not None and na.calls == 7, "the group's breaker heard the platform's calls"
