"""policy.primary_down_when through the one machine (virtual time): the machine decides when the
primary's usable count crosses the rule, not only when it reaches zero."""

from __future__ import annotations

from trunkguard.config import parse_config
from trunkguard.rules import sim_world
from trunkguard.sim.runner import Simulation
from trunkguard.sim.scenario import Scenario


def _sim(rule: str, dead: int) -> Simulation:
    primary = ", ".join(f'{{name: p{i}, uri: "sip:127.0.0.1:5070"}}' for i in range(10))
    cfg = parse_config(f"""carriers:
  primary:
    trunk_group_id: tg-primary
    trunks: [{primary}]
  secondary:
    trunk_group_id: tg-secondary
    trunks: [{{name: s0, uri: "sip:127.0.0.1:5072"}}]
policy:
  readiness: {{trunks: true, sweep: false, certs: false, parity: false}}
{rule}
""")
    events = [{"at": 100.0, "trunk": f"p{i}", "condition": "down"} for i in range(dead)]
    sim = Simulation(sim_world(cfg), Scenario.model_validate({"duration": 300.0, "events": events}), seed=1)
    sim.run()
    return sim


def test_eight_of_ten_trunks_dead_swaps_with_a_fewer_than_3_rule_and_not_without_it() -> None:
    assert _sim("", 8).result.swaps == []
    swaps = _sim("  primary_down_when: {fewer_usable_than: 3}", 8).result.swaps
    assert len(swaps) == 1 and swaps[0]["at_s"] - 100.0 < 20.0
    assert _sim("  primary_down_when: {fewer_usable_than: 3}", 7).result.swaps == []  # 3 usable: not down


def test_a_fraction_rule() -> None:
    assert len(_sim("  primary_down_when: {usable_fraction_below: 0.5}", 6).result.swaps) == 1
    assert _sim("  primary_down_when: {usable_fraction_below: 0.5}", 5).result.swaps == []
