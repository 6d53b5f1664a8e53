#!/usr/bin/env python3
"""OPTIONS transactions/s: trunkguard's full transaction layer vs SIPp's own UAC.

Starts one SIPp UAS (OPTIONS -> 200, -deadcall_wait 0) on loopback, then alternates rounds of
  - SIPp as UAC (`-r` high, `-l` window, `-m` calls), timed by wall clock, and
  - `trunkguard bench options` (closed loop, N in flight) for the same peer,
and prints each round, the medians and the ratio trunkguard / SIPp. Both clients hit the same UAS
in the same run, so the machine's noise falls on both. With `taskset` and two or more CPUs, the UAS
is pinned to CPU 1 and each client to CPU 0, so neither client ever shares a core with the UAS
(without pinning, rounds where the scheduler puts a client beside the UAS come out ~30 % slower).
Usage:
    python bench/options_vs_sipp.py [--rounds 3] [--calls 100000] [--duration 4] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "src" / "trunkguard" / "lab" / "sipp"


PIN = shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2


def on_cpu(cpu: int, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if PIN else cmd


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# SIPp's UAC rate depends on its rate (-r) and window (-l) settings, and too high a rate makes it
# slower (its scheduler falls behind: 12k/s at -r 50000 -l 2000 vs 21k/s at -r 25000 -l 500 here).
# Each round runs all of these and keeps SIPp's best, so the reference is never sandbagged.
SIPP_SETTINGS = [(20_000, 200), (25_000, 500), (30_000, 2000)]


def sipp_uac_rate(uas_port: int, calls: int, rate: int, window: int) -> float:
    cmd = ["sipp", f"127.0.0.1:{uas_port}", "-sf", str(SCENARIOS / "uac_options.xml"), "-i", "127.0.0.1",
           "-p", str(free_port()), "-t", "u1", "-mp", str(free_port()), "-cp", str(free_port()),
           "-r", str(rate), "-l", str(window), "-m", str(calls), "-nostdin", "-deadcall_wait", "0",
           "-timeout", "120s", "-timeout_error"]
    started = time.perf_counter()
    done = subprocess.run(on_cpu(0, cmd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"SIPp UAC failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return calls / elapsed


def trunkguard_rate(uas_port: int, duration: float, concurrency: int) -> dict[str, float]:
    cmd = [sys.executable, "-m", "trunkguard", "bench", "options", f"sip:127.0.0.1:{uas_port}",
           "--duration", str(duration), "--concurrency", str(concurrency), "--json"]
    done = subprocess.run(on_cpu(0, cmd), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"trunkguard bench failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=60_000, help="SIPp UAC calls per setting and round")
    parser.add_argument("--duration", type=float, default=4.0, help="trunkguard seconds per round")
    parser.add_argument("--concurrency", type=int, default=64, help="trunkguard transactions in flight")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        sys.exit("sipp is not installed (Debian package sip-tester)")
    port = free_port()
    uas = subprocess.Popen(
        on_cpu(1, ["sipp", "-sf", str(SCENARIOS / "uas_options.xml"), "-i", "127.0.0.1", "-p", str(port), "-t",
                   "u1", "-mp", str(free_port()), "-cp", str(free_port()), "-deadcall_wait", "0", "-nostdin"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        sipp_rates: list[float] = []
        ours: list[float] = []
        print(f"SIPp UAC: best of -r/-l {SIPP_SETTINGS} per round; trunkguard: {args.concurrency} in flight; "
              f"{'UAS on CPU 1, clients on CPU 0' if PIN else 'no CPU pinning'}")
        print(f"{'round':>5} {'SIPp UAC /s':>12} {'trunkguard /s':>14} {'ratio':>6}  trunkguard rtt p50/p99 ms")
        for n in range(1, args.rounds + 1):
            sipp_rates.append(max(sipp_uac_rate(port, args.calls, r, w) for r, w in SIPP_SETTINGS))
            report = trunkguard_rate(port, args.duration, args.concurrency)
            ours.append(report["rate_per_s"])
            print(f"{n:>5} {sipp_rates[-1]:>12,.0f} {ours[-1]:>14,.0f} {ours[-1] / sipp_rates[-1]:>6.2f}  "
                  f"{report['rtt_ms']['p50']}/{report['rtt_ms']['p99']}  timeouts={report['timeouts']}")
        ref, mine = statistics.median(sipp_rates), statistics.median(ours)
        print(f"median  SIPp UAC {ref:,.0f}/s  trunkguard {mine:,.0f}/s  ratio {mine / ref:.2f}x")
    finally:
        uas.terminate()
        uas.wait(5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
