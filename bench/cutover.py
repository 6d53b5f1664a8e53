#!/usr/bin/env python3
"""Cutover of the real engine on the lab, against the simulator's prediction for the same config.

Each round starts the lab (two lab carriers, the platform emulator) and the orchestrator with the
demo's fast profile and N trunks per carrier (all answered by the carrier's one lab SBC), waits
until both carriers are up, waits a random fraction of the probe interval (so the onset falls
anywhere in it), silences the primary, and measures onset to the committed, read-back swap. The
same configuration is then run in simulation over as many onset phases, with the platform latency
set to the measured swap time, and the medians compared: the ratio says how far the simulator (and
so bench/detection.py's table) is from the real thing; both drive the same machine.
Usage: python bench/cutover.py [--rounds 10] [--trunks 1,100]
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
from trunkguard.config_checks import run_readiness
from trunkguard.lab.lab import PROFILES, free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault


def with_trunks(text: str, n: int) -> str:
    """The lab's config with n trunks per carrier, all on the carrier's one lab SBC."""
    for name in ("carrier-a", "carrier-b"):
        start = text.index(f"trunks: [{{name: {name}-1, ")
        end = text.index("}]", start) + 2
        uri = text[start:end].split('uri: "', 1)[1].split('"', 1)[0]
        trunks = ", ".join(f'{{name: {name}-{i}, uri: "{uri}"}}' for i in range(1, n + 1))
        text = text[:start] + f"trunks: [{trunks}]" + text[end:]
    return text


async def one_round(folder: Path, rng: random.Random, n: int) -> tuple[float, float, list[float], Config]:
    async with running_lab() as lab:
        text = with_trunks(lab.config_text("fast", storage=f"sqlite:///{folder}/tg.db",
                                           api_listen=f"127.0.0.1:{free_tcp_port()}"), n)
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
            await asyncio.sleep(rng.random() * cfg.carriers["primary"].health.interval)
            lab.primary.fault = Fault(down=True)
            onset = time.time()
            while not ((pair := service.status().pair).active == "secondary" and pair.in_flight is None):
                await asyncio.sleep(0.005)
            return pair.since - onset, swaps[-1], cycles, cfg
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)


def measure(n: int, rounds: int) -> tuple[list[float], list[float], list[float], list[float], Config]:
    rng = random.Random(1)
    real: list[float] = []
    swaps: list[float] = []
    cycles: list[float] = []
    cfg: Config | None = None
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            cut, swap, cyc, cfg = asyncio.run(one_round(Path(folder), rng, n))
        real.append(cut)
        swaps.append(swap)
        cycles.extend(cyc)
    assert cfg is not None
    sim = cutovers(cfg, rounds * 3, platform_latency=statistics.median(swaps), rtt=0.0005)
    return real, sim, swaps, cycles, cfg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--trunks", default="1,100", help="trunks per carrier, comma-separated")
    args = parser.parse_args()
    logging.getLogger("trunkguard").setLevel(logging.ERROR)
    target = float(PROFILES["fast"]["target_s"])
    ok = True
    rows = []
    for n in (int(x) for x in args.trunks.split(",")):
        real, sim, swaps, cycles, cfg = measure(n, args.rounds)
        cycles.sort()
        ratio = statistics.median(real) / statistics.median(sim)
        rows.append((n, real, sim, swaps, cycles, ratio))
        ok &= max(real) <= target and abs(ratio - 1) <= 0.10
    h = cfg.carriers["primary"].health
    print(f"fast profile: {h.interval:g}s probes, {h.timeout:g}s timeout, down after {h.down_after} checks of "
          f"{h.confirm_burst}; {args.rounds} real rounds and {args.rounds * 3} simulated onsets per size")
    print(f"{'trunks/carrier':>14} {'real median':>12} {'real worst':>11} {'sim median':>11} {'sim worst':>10} "
          f"{'real/sim':>9} {'swap ms':>8} {'cycle ms p50/p99':>17}")
    for n, real, sim, swaps, cycles, ratio in rows:
        print(f"{n:>14} {statistics.median(real):>11.2f}s {max(real):>10.2f}s {statistics.median(sim):>10.2f}s "
              f"{max(sim):>9.2f}s {ratio:>8.2f}x {statistics.median(swaps) * 1000:>8.1f} "
              f"{statistics.median(cycles) * 1000:>8.2f}/{cycles[int(len(cycles) * 0.99)] * 1000:.2f}")
    print(f"targets: worst real cutover <= {target:g}s and real/simulated median within 10 %: "
          f"{'MET' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
