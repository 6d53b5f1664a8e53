#!/usr/bin/env python3
"""Detection delay vs false swaps, in simulation, for a few confirmation rules.

For each setting it replays, through the real scheduler and decision core:
  - a hard outage of the primary (every primary trunk silent) at many onset phases within the
    probe interval, and reports the cutover (onset to committed swap): worst and median;
  - 24 simulated hours of the primary at 30 % random probe loss for several seeds, and counts the
    swaps (any swap is a false one);
  - the simulation speed, simulated seconds per wall second.
The primary has a single trunk (the worst case: nothing else to keep it usable). Usage:
    python bench/detection.py [--seeds 10] [--phases 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from trunkguard.config import Config, load_config
from trunkguard.rules import sim_world
from trunkguard.sim.runner import simulate
from trunkguard.sim.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent

# (label, health overrides). The first row is trunkguard's default; the guide only fixes
# interval 15 s and "down after 3"; its edge case 1 suggests 30 s and 5.
SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("default: 15s, down 3, bursts of 5 at 100ms", {}),
    ("15s, down 3, bursts of 3 at 100ms", {"confirm_burst": 3}),
    ("15s, down 3, bursts of 5 at 1s (design example)", {"confirm_interval": 1.0}),
    ("15s, down 3, single re-probes at 1s", {"confirm_burst": 1, "confirm_interval": 1.0}),
    ("30s, down 5, single re-probes at 1s (guide edge case 1)",
     {"interval": 30.0, "down_after": 5, "confirm_burst": 1, "confirm_interval": 1.0}),
]


def configured(base: Config, health: dict[str, Any]) -> Config:
    primary = base.carriers["primary"]
    primary = primary.model_copy(update={"health": primary.health.model_copy(update=health)})
    return base.model_copy(update={"carriers": base.carriers.model_copy(update={"primary": primary})})


def cutovers(config: Config, phases: int, **sim_options: Any) -> list[float]:
    """Onset to committed swap for a hard outage of every primary trunk, starting at `phases` points of
    the interval."""
    interval = config.carriers["primary"].health.interval
    trunks = [t.name for t in config.carriers["primary"].trunks]
    out: list[float] = []
    for i in range(phases):
        onset = 10 * interval + interval * i / phases
        scenario = Scenario.model_validate({"duration": onset + 120, "events": [
            {"at": onset, "trunk": trunk, "condition": "down"} for trunk in trunks]})
        result = simulate(sim_world(config), scenario, seed=i, record_timeline=False, **sim_options)
        swaps = [s for s in result.swaps if s["to"] == "secondary"]
        out.append(swaps[0]["at_s"] - onset if swaps else float("inf"))
    return out


def false_swaps(config: Config, seeds: int) -> tuple[int, int, int, float, float]:
    trunk = config.carriers["primary"].trunks[0].name
    swaps = downs = probes = 0
    simulated = wall = 0.0
    for seed in range(1, seeds + 1):
        scenario = Scenario.model_validate({"duration": 86_400, "events": [
            {"at": 0, "trunk": trunk, "condition": {"loss": 0.3}}]})
        started = time.perf_counter()
        result = simulate(sim_world(config), scenario, seed=seed, record_timeline=False)
        wall += time.perf_counter() - started
        simulated += result.duration_s
        swaps += len(result.swaps)
        downs += result.trunk_downs
        probes += result.probes_sent
    return swaps, downs, probes // seeds, simulated, wall


def with_trunks(base: Config, n: int, *, correlate: bool = True) -> Config:
    """The base config with n primary trunks (same URI), correlation on or off."""
    primary = base.carriers["primary"]
    first = primary.trunks[0]
    trunks = [first.model_copy(update={"name": f"{first.name}-{i}"}) for i in range(n)]
    health = primary.health.model_copy(update={"correlate": correlate})
    primary = primary.model_copy(update={"trunks": trunks, "health": health})
    return base.model_copy(update={"carriers": base.carriers.model_copy(update={"primary": primary})})


def lossy_swaps(config: Config, seeds: int, hours: float = 24) -> int:
    trunks = [t.name for t in config.carriers["primary"].trunks]
    swaps = 0
    for seed in range(1, seeds + 1):
        scenario = Scenario.model_validate({"duration": hours * 3600, "events": [
            {"at": 0, "trunk": t, "condition": {"loss": 0.3}} for t in trunks]})
        swaps += len(simulate(sim_world(config), scenario, seed=seed, record_timeline=False).swaps)
    return swaps


def with_media(base: Config, **media: Any) -> Config:
    """The base config with the primary's media check on (the guide's 60 s test calls)."""
    primary = base.carriers["primary"]
    settings = primary.media.model_copy(update={"enabled": True, "interval": 60.0, **media})
    primary = primary.model_copy(update={"media": settings})
    return base.model_copy(update={"carriers": base.carriers.model_copy(update={"primary": primary})})


def media_outage(config: Config, phases: int) -> list[float]:
    """Onset to committed swap when RTP stops but SIP keeps answering, at `phases` points of the media interval."""
    interval = config.carriers["primary"].media.interval
    trunk = config.carriers["primary"].trunks[0].name
    out: list[float] = []
    for i in range(phases):
        onset = 10 * interval + interval * i / phases
        scenario = Scenario.model_validate({"duration": onset + 3 * interval, "events": [
            {"at": onset, "trunk": trunk, "condition": "media_down"}]})
        swaps = simulate(sim_world(config), scenario, seed=i, record_timeline=False).swaps
        out.append(swaps[0]["at_s"] - onset if swaps else float("inf"))
    return out


def by_media_confirmation(base: Config, phases: int, seeds: int) -> bool:
    print(f"\nmedia check on (test calls every 60 s): {seeds} x 24 h at 30 % OPTIONS loss; media outage "
          f"(no RTP, SIP fine) at {phases} onsets")
    print(f"{'media setting':<44} {'false swaps':>12} {'worst':>7} {'median':>7}")
    ok = True
    for label, media in (("default: re-test after 5s, down after 2", {}),
                         ("no confirmation: down after 1", {"down_after": 1})):
        config = with_media(base, **media)
        false = lossy_swaps(config, seeds)
        cut = media_outage(config, phases)
        print(f"{label:<44} {false:>6} in {seeds}d {max(cut):>6.1f}s {statistics.median(cut):>6.1f}s")
        if not media:
            media = config.carriers["primary"].media
            limit = 60.0 + media.confirm_every + 2 * media.rtp_timeout
            ok = false == 0 and max(cut) <= limit + 1
            print(f"target (default): 0 false swaps and every media outage swapped within one interval plus the "
                  f"confirmation ({limit:.0f}s):", "MET" if ok else "NOT MET")
    return ok


def by_trunk_count(base: Config, phases: int, seeds: int) -> bool:
    """Issue 16's table: cutover by trunks per carrier, with and without correlation."""
    print(f"\nby trunks per carrier (default row's settings), {phases} onsets; false swaps: every primary trunk at "
          f"30 % loss, {seeds} x 24 h (100 trunks: 1 x 6 h, the run is long)")
    print(f"{'trunks':>6} {'worst off':>10} {'median off':>11} {'worst on':>9} {'median on':>10} "
          f"{'false swaps (on)':>17}")
    ok = True
    for n in (1, 2, 4, 10, 100):
        off = cutovers(with_trunks(base, n, correlate=False), phases)
        on = cutovers(with_trunks(base, n, correlate=True), phases)
        false = lossy_swaps(with_trunks(base, n), 1, hours=6) if n == 100 else lossy_swaps(with_trunks(base, n), seeds)
        print(f"{n:>6} {max(off):>9.1f}s {statistics.median(off):>10.1f}s {max(on):>8.1f}s "
              f"{statistics.median(on):>9.1f}s {false:>17}")
        ok &= false == 0
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="24 h runs at 30 %% loss per setting")
    parser.add_argument("--phases", type=int, default=30, help="outage onsets spread over one interval")
    args = parser.parse_args()
    base = load_config(ROOT / "examples" / "single-trunk.yaml")
    print(f"hard outage: {args.phases} onset phases per setting; false swaps: {args.seeds} x 24 h at 30 % loss")
    print("worst/median: onset to committed swap. swaps: at most one a day, as nothing returns by itself;")
    print("false downs: times the lossy trunk was marked DOWN. speed: simulated time per wall-clock time.")
    print(f"{'setting':<58} {'worst':>7} {'median':>7} {'swaps':>10} {'false downs':>12} {'probes/day':>11} "
          f"{'speed':>10}")
    failed = False
    for media in (False, True):
        if media:
            print("the same with the media check on (a test call every 60 s, re-tested after 5 s, down after 2):")
        for label, health in SETTINGS:
            config = configured(base, health)
            config = with_media(config) if media else config
            cut = cutovers(config, args.phases)
            swaps, downs, probes, simulated, wall = false_swaps(config, args.seeds)
            worst = max(cut)
            print(f"{label:<58} {worst:>6.1f}s {statistics.median(cut):>6.1f}s {swaps:>4} in {args.seeds}d "
                  f"{downs / args.seeds:>9.1f}/day {probes:>11,} {simulated / wall:>9,.0f}x")
            if not health:
                failed |= worst > 20 or swaps > 0
    print("target (default rows): worst cutover <= 20 s and 0 false swaps:", "MET" if not failed else "NOT MET")
    if not by_trunk_count(base, args.phases, args.seeds):
        print("correlation made a false swap: NOT MET")
        failed = True
    if not by_media_confirmation(base, args.phases, args.seeds):
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
