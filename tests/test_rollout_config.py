"""Rollout defects in configuration: each test failed on the code before its fix.

- a config without `profile` sections can fail over (the parity gate is "not configured", not a silent,
  permanent block);
- a config or scenario file over 1 MiB is refused by name, before it is parsed.
(The bad-config rules for trunk group ids, trunk URIs and `fewer_usable_than` are fixtures in
tests/configs/bad/, checked by tests/test_config.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trunkguard.config import load_config
from trunkguard.core.failover import Readiness
from trunkguard.core.values import evolve
from trunkguard.errors import ConfigError
from trunkguard.rules import machine_rules, sim_world
from trunkguard.sim.runner import Simulation
from trunkguard.sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
SINGLE = ROOT / "examples" / "single-trunk.yaml"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True, timeout=60)


def test_the_simplest_example_fails_over_with_parity_not_configured() -> None:
    """examples/single-trunk.yaml has no profiles: the machine used to wait for ever on "profile parity has
    not run"; now parity is left out of the gates and the activation sentence says so."""
    config = load_config(SINGLE)
    rules = machine_rules(config)
    assert "parity" not in rules.policy.gates
    assert rules.policy.unconfigured == (("parity", "no profiles in the config"),)
    scenario = Scenario.model_validate({"duration": 120, "events": [{"at": 10, "trunk": "primary-1",
                                                                     "condition": "down"}]})
    sim = Simulation(sim_world(config), scenario, 1)
    sim.state = evolve(sim.state, readiness=(("secondary", Readiness(sweep_ok=True, certs_ok=True)),))  # parity never ran
    result = sim.run()
    assert [s["to"] for s in result.swaps] == ["secondary"], result.timeline[-3:]
    assert any("secondary ready (parity: not configured (no profiles in the config))" in line
               for _, line in result.timeline)


def test_config_check_warns_in_words_about_parity_without_profiles() -> None:
    done = _cli("config", "check", str(SINGLE), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    text = json.dumps(json.loads(done.stdout))
    assert "policy.readiness.parity" in text and "not configured (no profiles in the config)" in text


def test_a_config_over_1_mib_is_refused_by_name_before_it_is_parsed(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(SINGLE.read_text() + "# " + "x" * (10 << 20) + "\n")
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_config(big)
    assert time.monotonic() - started < 2.0  # 8.8 s before the limit
    assert info.value.problems == [("(file)", "is 10.0 MiB: a config or scenario file may be at most 1 MiB (long DID "
                                              "lists go in a dids_file, which may be large)")]
    done = _cli("config", "check", str(big))
    assert done.returncode == 2 and "at most 1 MiB" in done.stdout + done.stderr


def test_a_scenario_over_1_mib_is_refused_by_name(tmp_path: Path) -> None:
    big = tmp_path / "scenario.yaml"
    big.write_text("- {at: 0s, trunk: primary-1, condition: down}\n" + "# " + "x" * (2 << 20) + "\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(big)
    assert "may be at most 1 MiB" in info.value.problems[0][1]


def test_a_large_dids_file_is_still_accepted(tmp_path: Path) -> None:
    dids = tmp_path / "dids.txt"
    dids.write_text("".join(f"+1555{n:07d}\n" for n in range(100_000)))  # 1.3 MB
    assert dids.stat().st_size > 1 << 20
    config = tmp_path / "tg.yaml"
    config.write_text(SINGLE.read_text().replace("    trunk_group_id: tg-secondary\n",
                                                 "    trunk_group_id: tg-secondary\n    dids_file: dids.txt\n"))
    assert load_config(config).carriers["secondary"].dids_file == dids


def test_simulate_takes_operator_maintenance_with_trunk_duration_and_reason(tmp_path: Path) -> None:
    """Rollout item 8: `operator: maintenance` (trunk, for, reason) as the daemon takes it; it ends by itself."""
    scenario = tmp_path / "maintenance.yaml"
    scenario.write_text("""duration: 900
events:
  - {at: 100, operator: maintenance, trunk: primary-1, for: 5m, reason: "SBC work", who: dora}
  - {at: 120, trunk: primary-1, condition: down}
  - {at: 300, trunk: primary-1, condition: up}
""")
    done = _cli("simulate", "--config", str(SINGLE), "--scenario", str(scenario))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trunk primary-1 in maintenance until" in done.stdout and "by dora (SBC work)" in done.stdout
    assert "maintenance of primary-1 ended by itself" in done.stdout
    assert "activating" not in done.stdout  # down only while in maintenance: no swap
    bad = tmp_path / "bad.yaml"
    bad.write_text("duration: 900\nevents:\n  - {at: 100, operator: maintenance, for: 5m}\n")
    refused = _cli("simulate", "--config", str(SINGLE), "--scenario", str(bad))
    assert refused.returncode == 2 and "events[0].trunk: operator maintenance needs the trunk it is about" in \
        refused.stdout + refused.stderr
