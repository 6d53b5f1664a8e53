#!/usr/bin/env python3
"""Routing groups at scale: G groups x C carriers x N trunks in one `trunkguard run`, against SIPp.

Every carrier is its own SIPp UAS (all N trunks of a carrier point at it, as a carrier's SBC answers
many trunks); the generic platform emulator runs in this process with one routing rule per group;
the daemon is a subprocess with the guide's settings (15 s interval, 2 s timeout, down after 3 for a
chain's first carrier and 2 for the others, a 10 s poll, media off) and its own SQLite store.

A run lets the daemon probe a full interval plus a random fraction of one, measures its steady CPU
and RSS from /proc over the next interval, then:
1. kills the first carrier of group 0 and times onset to the applied write of group 0's rule;
2. kills the first carriers of the next five groups at the same moment and times each group's;
and checks that no other group's rule was ever written (each rule's version: one write for each
group that lost its first carrier, none for the rest).

The reference, in the same script: one group of the same C x N (the pair bench's shape), the same
measures, so the table prints each as a ratio to it.

    python bench/groups.py [--groups 20] [--carriers 3] [--trunks 50] [--runs 1] [--json FILE]
Targets (issue 27): steady CPU <= 10 % of a core, RSS <= 300 MB, every cutover <= 20 s (five groups
at once included), no other group's routing written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from trunkguard.asgi import serving
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule

try:
    from bench.scale import cpu_seconds, free_port, rss_mb, start_sipp
except ImportError:  # run as a script: bench/ itself is on sys.path
    from scale import cpu_seconds, free_port, rss_mb, start_sipp  # type: ignore[no-redef]

SETTLE = 60.0  # seconds a cutover may take before the run is called failed


@dataclass
class Run:
    groups: int
    carriers: int
    trunks: int
    cpu_pct: float
    rss_mb: float
    cutover_one_s: float  # group 0 alone
    cutover_five_s: list[float] = field(default_factory=list)  # groups 1..5, killed at the same moment
    foreign_writes: int = 0  # writes to a rule of a group whose carriers all lived
    swapped: int = 0  # groups whose rule moved exactly once

    @property
    def worst(self) -> float:
        return max([self.cutover_one_s, *self.cutover_five_s])


def carrier(g: int, c: int) -> str:
    return f"g{g}c{c}"


def config_text(groups: int, carriers: int, trunks: int, ports: dict[str, int], emulator: str, db: str,
                api: str) -> str:
    lines = ["carriers:"]
    for g in range(groups):
        for c in range(carriers):
            name = carrier(g, c)
            lines += [f"  {name}:", f"    trunk_group_id: tg-{name}",
                      "    health: {interval: 15s, timeout: 2s, up_after: 2}", "    trunks:"]
            lines += [f'      - {{name: {name}t{i}, uri: "sip:127.0.0.1:{ports[name]};transport=udp"}}'
                      for i in range(trunks)]
    lines.append("groups:")
    for g in range(groups):
        chain = ", ".join(carrier(g, c) for c in range(carriers))
        lines += [f"  g{g}:", f"    chain: [{chain}]", f"    platform: {{rule_id: rule-g{g}}}"]
    lines.append(f"""policy:
  readiness: {{trunks: true, sweep: false, certs: false, parity: false}}
platform:
  kind: emulator
  base_url: {emulator}
  client_id_env: TG_ID
  client_secret_env: TG_SECRET
storage: {{url: "sqlite:///{db}", trace_retention: 24h}}
api: {{listen: "{api}", token_env: TG_TOKEN}}
""")
    return "\n".join(lines)


def start_carriers(names: list[str], folder: Path) -> tuple[dict[str, int], dict[str, subprocess.Popen[bytes]]]:
    ports, peers = {}, {}
    for name in names:
        ports[name] = free_port()
        peers[name] = start_sipp(ports[name], folder / f"sipp-{name}.log")
    return ports, peers


async def cutovers(state: EmulatorState, rules: list[str], to: list[str], onset: float, log: Path) -> list[float]:
    """Seconds from `onset` until each rule routes to its target (polled every 2 ms); `log`: the daemon's."""
    done: dict[str, float] = {}
    while len(done) < len(rules):
        for rule, target in zip(rules, to, strict=True):
            if rule not in done and state.rules[rule]["action"]["trunkGroupId"] == target:
                done[rule] = time.time() - onset
        if time.time() - onset > SETTLE:
            tail = await asyncio.to_thread(log.read_text)
            raise RuntimeError(f"no cutover for {sorted(set(rules) - set(done))} within {SETTLE:g} s; "
                               f"log tail: {tail[-1500:]}")
        await asyncio.sleep(0.002)
    return [done[r] for r in rules]


async def one_run(groups: int, carriers: int, trunks: int, rng: random.Random, folder: Path) -> Run:
    rules = [f"rule-g{g}" for g in range(groups)]
    state = EmulatorState(client_id="tg", client_secret="s",
                          rules={r: default_rule(r, f"tg-{carrier(g, 0)}") for g, r in enumerate(rules)},
                          calls={"primary_inbound_queue_id": 0})
    names = [carrier(g, c) for g in range(groups) for c in range(carriers)]
    ports, peers = start_carriers(names, folder)
    port = free_port(socket.SOCK_STREAM)
    api = f"127.0.0.1:{free_port(socket.SOCK_STREAM)}"
    cfg = folder / "tg.yaml"
    cfg.write_text(config_text(groups, carriers, trunks, ports, f"http://127.0.0.1:{port}",
                               str(folder / "tg.db"), api))
    log = folder / "daemon.log"
    env = {**os.environ, "TG_ID": "tg", "TG_SECRET": "s", "TG_TOKEN": "bench"}
    try:
        async with serving(create_app(state), "127.0.0.1", port):
            daemon = await asyncio.create_subprocess_exec(sys.executable, "-m", "trunkguard", "run", "--config",
                                                          str(cfg), env=env, stdout=log.open("wb"),
                                                          stderr=subprocess.STDOUT)
            try:
                await asyncio.sleep(16 + rng.random() * 15)  # a full round of probes, then anywhere in the interval
                c0, t0 = cpu_seconds(daemon.pid), time.monotonic()
                await asyncio.sleep(15)
                cpu = 100 * (cpu_seconds(daemon.pid) - c0) / (time.monotonic() - t0)
                rss = rss_mb(daemon.pid)
                if daemon.returncode is not None:
                    raise RuntimeError(f"the daemon exited: {(await asyncio.to_thread(log.read_text))[-1500:]}")
                peers[carrier(0, 0)].send_signal(signal.SIGKILL)
                [one] = await cutovers(state, rules[:1], [f"tg-{carrier(0, 1)}"], time.time(), log)
                five = list(range(1, min(6, groups)))
                onset = time.time()
                for g in five:
                    peers[carrier(g, 0)].send_signal(signal.SIGKILL)
                many = await cutovers(state, [rules[g] for g in five], [f"tg-{carrier(g, 1)}" for g in five], onset,
                                      log)
                await asyncio.sleep(2.0)  # anything written late would show now
                moved = {0, *five}
                foreign = sum(state.rules[r]["version"] - 1 for g, r in enumerate(rules) if g not in moved)
                swapped = sum(state.rules[rules[g]]["version"] == 2 for g in moved)
            finally:
                daemon.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(daemon.wait(), 30)
                except TimeoutError:
                    daemon.kill()
    finally:
        for sipp in peers.values():
            if sipp.poll() is None:
                sipp.kill()
            sipp.wait()
    return Run(groups, carriers, trunks, cpu, rss, one, many, foreign, swapped)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--carriers", type=int, default=3)
    parser.add_argument("--trunks", type=int, default=50, help="per carrier")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        print("bench/groups.py needs sipp (apt-get install sip-tester)", file=sys.stderr)
        return 2
    if args.groups < 6 or args.carriers < 2:
        print("--groups must be at least 6 (one, then five at once) and --carriers at least 2", file=sys.stderr)
        return 2
    rng = random.Random(27)
    rows: list[Run] = []
    for size in (6, args.groups):  # the reference: the fewest groups the two kills need, same carriers and trunks
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as folder:
                rows.append(asyncio.run(one_run(size, args.carriers, args.trunks, rng, Path(folder))))
            r = rows[-1]
            print(f"  {r.groups} groups x {r.carriers} x {r.trunks}: cpu {r.cpu_pct:.2f}% rss {r.rss_mb:.0f} MB "
                  f"cutover {r.cutover_one_s:.2f}s, five at once {', '.join(f'{s:.2f}' for s in r.cutover_five_s)}s "
                  f"foreign writes {r.foreign_writes}", flush=True)
    ref = [r for r in rows if r.groups == 6]
    big = [r for r in rows if r.groups == args.groups]
    print(f"\n{'groups':>6} {'trunks':>7} {'steady CPU':>11} {'RSS':>8} {'cutover (one)':>14} "
          f"{'worst of five at once':>22} {'other groups written':>21} {'ratio CPU':>10} {'ratio worst':>12}")
    cpu_ref = statistics.median(r.cpu_pct for r in ref)
    worst_ref = statistics.median(r.worst for r in ref)
    for mine in (ref, big):
        cpu = statistics.median(r.cpu_pct for r in mine)
        worst = statistics.median(r.worst for r in mine)
        print(f"{mine[0].groups:>6} {mine[0].groups * args.carriers * args.trunks:>7} {cpu:>10.2f}% "
              f"{max(r.rss_mb for r in mine):>6.0f}MB {statistics.median(r.cutover_one_s for r in mine):>13.2f}s "
              f"{statistics.median(max(r.cutover_five_s) for r in mine):>21.2f}s "
              f"{sum(r.foreign_writes for r in mine):>21} {cpu / cpu_ref:>10.2f} {worst / worst_ref:>12.2f}")
    ok = all(r.cpu_pct <= 10 and r.rss_mb <= 300 and r.worst <= 20 and r.foreign_writes == 0
             and r.swapped == 1 + len(r.cutover_five_s) for r in big)
    print("targets (steady CPU <= 10 % of a core, RSS <= 300 MB, every cutover <= 20 s with five groups at once, "
          f"no other group's routing written): {'MET' if ok else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "worst": r.worst} for r in rows], indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
