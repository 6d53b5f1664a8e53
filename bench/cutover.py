#!/usr/bin/env python3
"""Cutover of the real engine on the lab, against the simulator's prediction for the same config.

Each round starts the lab (two lab carriers, the platform emulator) and the orchestrator with the
demo's fast profile, waits until both carriers are up, waits a random fraction of the probe
interval (so the onset falls anywhere in it), silences the primary, and measures onset to the
committed, read-back swap. The same configuration is then replayed in simulation over as many
onset phases, with the platform latency set to the measured swap time, and the medians compared:
the ratio says how far the simulator (and so bench/detection.py's table) is from the real thing.
Usage: python bench/cutover.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from detection import cutovers  # bench/detection.py, beside this script
from trunkguard.app import Service
from trunkguard.config import Config, parse_config
from trunkguard.lab.lab import PROFILES, free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault
from trunkguard.readiness import run_readiness


async def one_round(folder: Path, rng: random.Random) -> tuple[float, float, list[float], Config]:
    async with running_lab() as lab:
        text = lab.config_text("fast", storage=f"sqlite:///{folder}/tg.db", api_listen=f"127.0.0.1:{free_tcp_port()}")
        cfg = parse_config(text)
        await run_readiness(cfg)
        service = Service.build(cfg, lab_environment("bench"))
        cycles: list[float] = []
        swaps: list[float] = []

        def observe(kind: str, data: dict[str, Any]) -> None:
            if kind == "cycle":
                cycles.append(data["seconds"])
            elif kind == "swap_done":
                swaps.append(data["seconds"])

        service.runtime.subscribe(observe)
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            while not all(h.state.value == "up" for h in service.status().health.values()):
                await asyncio.sleep(0.01)
            await asyncio.sleep(rng.random() * cfg.carriers.primary.health.interval)
            lab.primary.fault = Fault(down=True)
            onset = time.time()
            while not ((pair := service.status().pair).active.value == "secondary" and pair.in_flight is None):
                await asyncio.sleep(0.005)
            return pair.since - onset, swaps[-1], cycles, cfg
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    logging.getLogger("trunkguard").setLevel(logging.ERROR)
    rng = random.Random(1)
    real: list[float] = []
    swaps: list[float] = []
    cycles: list[float] = []
    cfg: Config | None = None
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            cut, swap, cyc, cfg = asyncio.run(one_round(Path(folder), rng))
        real.append(cut)
        swaps.append(swap)
        cycles.extend(cyc)
    assert cfg is not None
    swap_median = statistics.median(swaps)
    sim = cutovers(cfg, args.rounds * 3, platform_latency=swap_median, rtt=0.0005)
    target = float(PROFILES["fast"]["target_s"])
    cycles.sort()
    print(f"fast profile: {cfg.carriers.primary.health.interval:g}s probes, down after "
          f"{cfg.carriers.primary.health.down_after} checks of {cfg.carriers.primary.health.confirm_burst}")
    print(f"real engine, {args.rounds} rounds: cutover median {statistics.median(real):.2f}s, "
          f"min {min(real):.2f}s, worst {max(real):.2f}s")
    print(f"  swap (read, write, read back on the emulator): median {swap_median * 1000:.1f} ms")
    print(f"  decision cycle (events folded in, decided, persisted): median {statistics.median(cycles) * 1000:.2f} ms, "
          f"p99 {cycles[int(len(cycles) * 0.99)] * 1000:.2f} ms over {len(cycles)} cycles")
    print(f"simulation, {len(sim)} onsets: cutover median {statistics.median(sim):.2f}s, worst {max(sim):.2f}s")
    print(f"ratio real/simulated median: {statistics.median(real) / statistics.median(sim):.2f}x")
    met = max(real) <= target
    print(f"target: worst real cutover <= {target:g}s: {'MET' if met else 'NOT MET'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
