#!/usr/bin/env python3
"""Cutover, CPU, memory and probe rate of the real daemon with N trunks per carrier, against SIPp.

For each N: two SIPp UAS processes are the carriers (all N trunks of a carrier point at its one
SIPp, as a carrier's SBC answers many trunks), the platform emulator runs in this process, and
`trunkguard run` is a subprocess with the guide's settings (15 s interval, 2 s timeout, down after
3 / 2, media off) and its own SQLite store. Each onset starts a fresh daemon, lets it run a full
probe interval plus a random fraction of one (the onset lands anywhere in the interval), measures
steady CPU and RSS from /proc over the last interval (without the /metrics scrapes that count the
probes: one scrape's CPU is its own column, to add at the rate Prometheus scrapes), kills the
primary's SIPp, and times onset to the applied platform write. It also checks that no healthy
secondary trunk ever left UP (the daemon logs every suspicion). The reference for the cutover is N = 1 in the same run.
Before the kill, outside the CPU window, it also measures what readers cost: one unfiltered
`GET /api/v1/status` (bytes, and the daemon's CPU for it) and the dashboard's event stream in steady
state (bytes per second over 20 s, after its first full snapshot).

    python bench/scale.py [--sizes 1,10,100,500,1000] [--onsets 5] [--json FILE]
Targets (issue 10): worst cutover at every N within 2 s of N = 1 and at most 20 s; secondary
trunks never leave UP; steady CPU at 1,000 trunks at most 5 % of one core; RSS at most 200 MB.
(issue 23): at 1,000 trunks the unfiltered status at most 100 KB, the event stream at most 20 KB/s,
one /metrics scrape at most 100 ms of CPU.
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
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from trunkguard.asgi import serving
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule

RULE = "rule-inbound-1"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sipp(port: int, log: Path, tries: int = 5) -> subprocess.Popen[bytes]:
    """A SIPp UAS on `port`. Its media and control ports are picked free just before it starts; another
    process can take one in between, so a start that fails on a bind is tried again with new ones."""
    for attempt in range(tries):
        cmd = ["sipp", "-sn", "uas", "-aa", "-i", "127.0.0.1", "-p", str(port), "-t", "u1", "-mp", str(free_port()),
               "-cp", str(free_port()), "-deadcall_wait", "0", "-nostdin"]
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("ab"), cwd=log.parent)
        time.sleep(0.3)
        if process.poll() is None:
            return process
        if "Address already in use" not in log.read_text()[-300:] or attempt == tries - 1:
            break
    raise RuntimeError(f"sipp exited: {log.read_text()[-300:]}")


def config_text(n: int, p_port: int, s_port: int, emulator: str, db: str, api: str, correlate: bool | None,
                trace: bool = True) -> str:
    health = "{interval: 15s, timeout: 2s, down_after: %d, up_after: 2%s}"
    extra = "" if correlate is None else f", correlate: {'true' if correlate else 'false'}"
    primary = "\n".join(f'      - {{name: p{i}, uri: "sip:127.0.0.1:{p_port};transport=udp"}}' for i in range(n))
    secondary = "\n".join(f'      - {{name: s{i}, uri: "sip:127.0.0.1:{s_port};transport=udp"}}' for i in range(n))
    return f"""carriers:
  primary:
    trunk_group_id: tg-primary
    health: {health % (3, extra)}
    trunks:
{primary}
  secondary:
    trunk_group_id: tg-secondary
    health: {health % (2, extra)}
    trunks:
{secondary}
policy:
  readiness: {{trunks: true, sweep: false, certs: false, parity: false}}
platform:
  kind: emulator
  base_url: {emulator}
  rule_id: {RULE}
  client_id_env: TG_ID
  client_secret_env: TG_SECRET
storage: {{url: "sqlite:///{db}", trace_retention: {"24h" if trace else 0}}}
api: {{listen: "{api}", token_env: TG_TOKEN}}
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6


@dataclass
class Onset:
    n: int
    cutover_s: float
    cpu_pct: float
    rss_mb: float
    probes_per_s: float
    secondary_left_up: int
    scrape_ms: float  # CPU of one /metrics scrape (a Prometheus scraping every 15 s adds scrape_ms / 150 %)
    status_kb: float = 0.0  # one unfiltered GET /api/v1/status
    status_ms: float = 0.0  # the daemon's CPU for it
    sse_kb_s: float = 0.0   # the dashboard's event stream in steady state


async def one_onset(n: int, rng: random.Random, folder: Path, correlate: bool | None, trace: bool = True) -> Onset:
    state = EmulatorState(client_id="tg", client_secret="s", rules={RULE: default_rule(RULE, "tg-primary")},
                          calls={"primary_inbound_queue_id": 0})
    port = free_port(socket.SOCK_STREAM)
    p_port, s_port = free_port(), free_port()
    primary = start_sipp(p_port, folder / "sipp-primary.log")
    secondary = start_sipp(s_port, folder / "sipp-secondary.log")
    api = f"127.0.0.1:{free_port(socket.SOCK_STREAM)}"
    cfg = folder / "tg.yaml"
    db = folder / f"tg-{time.monotonic_ns()}.db"
    cfg.write_text(config_text(n, p_port, s_port, f"http://127.0.0.1:{port}", str(db), api, correlate, trace))
    log = folder / "daemon.log"
    env = {**os.environ, "TG_ID": "tg", "TG_SECRET": "s", "TG_TOKEN": "bench"}
    async with serving(create_app(state), "127.0.0.1", port):
        daemon = await asyncio.create_subprocess_exec(sys.executable, "-m", "trunkguard", "run", "--config", str(cfg),
                                                      env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        try:
            await asyncio.sleep(16 + rng.random() * 15)  # a full round of probes, then anywhere in the interval
            probes0 = await _probes(api)
            c0, t0 = cpu_seconds(daemon.pid), time.monotonic()
            await asyncio.sleep(15)
            c1, t1 = cpu_seconds(daemon.pid), time.monotonic()
            probes1 = await _probes(api)  # the scrapes' own cost lands outside the window ...
            c2 = cpu_seconds(daemon.pid)
            scrape = c2 - c1 - (c1 - c0) / (t1 - t0) * (time.monotonic() - t1)  # ... and is reported apart
            cpu = 100 * (c1 - c0) / (t1 - t0)
            rss = rss_mb(daemon.pid)
            rate = (probes1 - probes0) / (t1 - t0)
            idle = (c1 - c0) / (t1 - t0)  # the daemon's own CPU per second, taken off the readers' costs
            c3, t3 = cpu_seconds(daemon.pid), time.monotonic()
            status_bytes = await _status_bytes(api)
            status_cpu = cpu_seconds(daemon.pid) - c3 - idle * (time.monotonic() - t3)
            sse = await _stream_rate(api, 20.0)
            primary.send_signal(signal.SIGKILL)
            onset = time.time()
            while state.rules[RULE]["action"]["trunkGroupId"] != "tg-secondary":
                if time.time() - onset > 120:
                    raise RuntimeError(f"N={n}: no swap within 120 s; log tail: {log.read_text()[-1500:]}")
                await asyncio.sleep(0.002)
            cutover = time.time() - onset
            left = sum(1 for line in log.read_text().splitlines()
                       if " trunk s" in line and (" is suspect" in line or " is down" in line))
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(daemon.wait(), 30)
            except TimeoutError:
                daemon.kill()
            for sipp in (primary, secondary):
                if sipp.poll() is None:
                    sipp.kill()
                sipp.wait()
    return Onset(n, cutover, cpu, rss, rate, left, max(0.0, scrape) * 1000, status_bytes / 1024,
                 max(0.0, status_cpu) * 1000, sse / 1024)


async def _status_bytes(api: str) -> int:
    async with httpx.AsyncClient() as client:
        return len((await client.get(f"http://{api}/api/v1/status", timeout=10)).content)


async def _stream_rate(api: str, seconds: float) -> float:
    """Bytes per second of the event stream after its first full snapshot (the steady state)."""
    received, started = 0, 0.0
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=seconds + 5)) as client, \
            client.stream("GET", f"http://{api}/api/v1/events") as response:
        opened = time.monotonic()
        async for chunk in response.aiter_bytes():
            now = time.monotonic()
            if now - opened < 2.0:
                continue  # the first full snapshot of every trunk
            if not started:
                started = now
            received += len(chunk)
            if now - opened >= seconds:
                break
    return received / max(time.monotonic() - started, 1e-6) if started else 0.0


async def _probes(api: str) -> float:
    """Probes finished so far, from the daemon's `/metrics` (the scrape's own cost lands outside the window)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://{api}/metrics", timeout=10)).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("trunkguard_probes_total{"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,100,500,1000")
    parser.add_argument("--onsets", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--correlate", choices=["on", "off", "default"], default="default")
    parser.add_argument("--no-trace", action="store_true", help="storage.trace_retention: 0 (no event trace)")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        print("bench/scale.py needs sipp (apt-get install sip-tester)", file=sys.stderr)
        return 2
    sizes = [int(x) for x in args.sizes.split(",")]
    correlate = None if args.correlate == "default" else args.correlate == "on"
    rng = random.Random(10)
    rows: list[Onset] = []
    for n in sizes:
        for _ in range(args.onsets):
            with tempfile.TemporaryDirectory() as folder:
                rows.append(asyncio.run(one_onset(n, rng, Path(folder), correlate, not args.no_trace)))
            r = rows[-1]
            print(f"  N={n}: cutover {r.cutover_s:.2f}s cpu {r.cpu_pct:.2f}% rss {r.rss_mb:.0f} MB "
                  f"secondary-suspicions {r.secondary_left_up} scrape {r.scrape_ms:.0f} ms status {r.status_kb:.1f} KB "
                  f"in {r.status_ms:.0f} ms, events {r.sse_kb_s:.2f} KB/s", flush=True)
    print(f"\n{'trunks/carrier':>14} {'worst cutover':>14} {'median':>8} {'steady CPU':>11} {'RSS':>8} "
          f"{'probes/s':>9} {'secondary left UP':>18} {'/metrics scrape':>16} {'status':>9} {'status CPU':>11} "
          f"{'events':>11}")
    base = max(r.cutover_s for r in rows if r.n == sizes[0])
    ok = True
    for n in sizes:
        mine = [r for r in rows if r.n == n]
        worst = max(r.cutover_s for r in mine)
        cpu = statistics.median(r.cpu_pct for r in mine)
        rss = max(r.rss_mb for r in mine)
        left = sum(r.secondary_left_up for r in mine)
        print(f"{n:>14} {worst:>13.2f}s {statistics.median(r.cutover_s for r in mine):>7.2f}s {cpu:>10.2f}% "
              f"{rss:>6.0f}MB {statistics.median(r.probes_per_s for r in mine):>9.1f} {left:>18} "
              f"{statistics.median(r.scrape_ms for r in mine):>13.0f} ms "
              f"{max(r.status_kb for r in mine):>6.1f} KB {statistics.median(r.status_ms for r in mine):>8.0f} ms "
              f"{statistics.median(r.sse_kb_s for r in mine):>6.2f} KB/s")
        ok &= worst <= min(20.0, base + 2.0) and left == 0 and rss <= 200 and (n < 1000 or cpu <= 5.0)
        ok &= n < 1000 or (max(r.status_kb for r in mine) <= 100 and statistics.median(r.sse_kb_s for r in mine) <= 20
                           and statistics.median(r.scrape_ms for r in mine) <= 100)
    print("targets (worst within 2 s of N=1 and <= 20 s, secondary never leaves UP, CPU <= 5 % at 1,000, "
          "RSS <= 200 MB; at 1,000: status <= 100 KB, events <= 20 KB/s, scrape <= 100 ms): "
          f"{'MET' if ok else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
