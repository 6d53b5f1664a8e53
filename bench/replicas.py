#!/usr/bin/env python3
"""Several replicas on one PostgreSQL, on one host with one hostname: SIGKILL or SIGSTOP the leader
while the primary carrier is down. Does a standby take over within the lease's TTL plus one
renewal, is there exactly one applied swap, and does a stopped leader that wakes up write nothing?

Each run: a fresh PostgreSQL schema, the platform emulator, a SIPp UAS per carrier, N real
`trunkguard run` processes sharing one config (each with its own `--listen`; no `--name`, so all
have the host's name). Every replica's `/leader` is sampled every 100 ms throughout. Once one
leads and both carriers are up, the primary's SIPp is killed; at a random moment of the outage
(0 to 4 s after, so before, during or after the activation) the leader gets SIGKILL or SIGSTOP.
Then: the time from the signal to another replica answering 200 on `/leader` (the takeover), the
writes the platform applied, and for SIGSTOP, after SIGCONT, whether the old leader wrote anything
to the store or the platform.

    python bench/replicas.py [--runs 20] [--replicas 2,3] [--ttl 3] [--json FILE]
Target (issue 13): no sample with two leaders; takeover within TTL + TTL/3 (one renewal); one applied
write per run; nothing written by a woken leader.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import sqlalchemy

from trunkguard.asgi import serving
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule

try:
    from bench.kill import RULE, config_text
    from bench.scale import free_port, start_sipp
except ImportError:  # run as a script: bench/ itself is on sys.path
    from kill import RULE, config_text  # type: ignore[no-redef]
    from scale import free_port, start_sipp  # type: ignore[no-redef]

TOKEN = "replica-token"
POSTGRES_URL = os.environ.get("TRUNKGUARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class ReplicaRun:
    seed: int
    replicas: int
    signal: str                     # KILL or STOP
    signal_after_s: float           # from the primary's death
    swapped_before_signal: bool
    takeover_s: float = 0.0         # signal to another replica's /leader 200
    samples: int = 0
    two_leaders: int = 0            # samples with more than one replica answering 200
    no_leader: int = 0              # samples with none (the takeover gap)
    applied_keys: list[str] = field(default_factory=list)
    woken_writes: int = 0           # store rows and platform writes by the stopped leader after waking
    ok: bool = False
    why: str = ""


@contextmanager
def postgres_schema(url: str = POSTGRES_URL) -> Iterator[str]:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    schema = f"tg_replicas_{secrets.token_hex(4)}"
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


async def replica_run(folder: Path, seed: int, *, replicas: int = 2, sig: str = "KILL", ttl: float = 3.0,
                      python: str = sys.executable) -> ReplicaRun:
    rng = random.Random(seed)
    state = EmulatorState(rules={RULE: default_rule(RULE, "tg-primary")}, calls={"primary_inbound_queue_id": 0})
    port = free_port(socket.SOCK_STREAM)
    p_port, s_port = free_port(), free_port()
    apis = [f"127.0.0.1:{free_port(socket.SOCK_STREAM)}" for _ in range(replicas)]
    env = {**os.environ, "TRUNKGUARD_CLIENT_ID": "trunkguard", "TRUNKGUARD_CLIENT_SECRET": "lab-secret",
           "TRUNKGUARD_API_TOKEN": TOKEN}
    env.pop("TRUNKGUARD_NAME", None)
    sipps = [start_sipp(p_port, folder / "sipp-primary.log"), start_sipp(s_port, folder / "sipp-secondary.log")]
    procs: list[asyncio.subprocess.Process] = []
    logs = [(folder / f"replica-{i}.log").open("ab") for i in range(replicas)]
    leaders: list[list[bool]] = []  # per sample: which replicas answered 200
    answered: set[int] = set()  # replicas whose API has answered at all
    stop_sampling = asyncio.Event()

    async def sample(client: httpx.AsyncClient) -> None:
        while not stop_sampling.is_set():
            async def one(i: int) -> bool:
                try:
                    code = (await client.get(f"http://{apis[i]}/leader", timeout=0.3)).status_code
                except httpx.HTTPError:
                    return False
                answered.add(i)
                return code == 200
            leaders.append(list(await asyncio.gather(*(one(i) for i in range(replicas)))))
            await asyncio.sleep(0.1)

    async def status(client: httpx.AsyncClient, i: int) -> dict[str, object] | None:
        try:
            return (await client.get(f"http://{apis[i]}/api/v1/status", timeout=0.5,  # type: ignore[no-any-return]
                                     headers={"Authorization": f"Bearer {TOKEN}"})).json()
        except (httpx.HTTPError, ValueError):
            return None

    async def until(what: str, check: object, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if check():  # type: ignore[operator]
                return time.monotonic() - started
            await asyncio.sleep(0.02)
        tails = "\n".join(f"replica {i} ({'exited ' + str(p.returncode) if p.returncode is not None else 'running'})"
                          f": ...{(folder / f'replica-{i}.log').read_text()[-600:]}" for i, p in enumerate(procs))
        raise RuntimeError(f"run {seed}: timed out waiting for {what}; logs:\n{tails}")

    with postgres_schema() as store_url:
        config = folder / "trunkguard.yaml"
        config.write_text(config_text(port, p_port, s_port, store_url, ttl=ttl))
        try:
            async with serving(create_app(state), "127.0.0.1", port), httpx.AsyncClient() as client:
                for i, api in enumerate(apis):
                    procs.append(await asyncio.create_subprocess_exec(
                        python, "-m", "trunkguard", "run", "--config", str(config), "--listen", api, env=env,
                        stdout=logs[i], stderr=logs[i]))
                sampler = asyncio.create_task(sample(client))
                await until("every replica's API and one leader",
                            lambda: len(answered) == replicas and leaders and sum(leaders[-1]) == 1, 40)
                leader = leaders[-1].index(True)
                seen: dict[str, object] = {}

                async def up() -> bool:
                    s = await status(client, leader)
                    if s is not None:
                        seen.update(s)
                    return s is not None and all(t["state"] == "up" for c in s["carriers"].values()  # type: ignore[attr-defined]
                                                 for t in c["trunks"])
                started = time.monotonic()
                while not await up():
                    if time.monotonic() - started > 30:
                        raise RuntimeError(f"run {seed}: carriers not up; see {folder}")
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # every standby has probed both carriers too
                sipps[0].kill()  # the primary carrier dies
                after = rng.uniform(0.0, 4.0)
                await asyncio.sleep(after)
                swapped = bool(state.applied_keys)
                procs[leader].send_signal(getattr(signal, f"SIG{sig}"))
                signalled = time.monotonic()
                others = [i for i in range(replicas) if i != leader]
                await until("a standby to take over", lambda: leaders and any(leaders[-1][i] for i in others),
                            ttl * 3 + 10)
                takeover = time.monotonic() - signalled
                new = next(i for i in others if leaders[-1][i])

                async def settled() -> bool:
                    s = await status(client, new)
                    return s is not None and s["active"] == "secondary" and s["in_flight"] is None
                while not await settled():
                    if time.monotonic() - signalled > 40:
                        raise RuntimeError(f"run {seed}: routing did not settle on the secondary; see {folder}")
                    await asyncio.sleep(0.05)
                woken = 0
                if sig == "STOP":
                    writes = len(state.applied_keys)
                    woke = time.time()
                    procs[leader].send_signal(signal.SIGCONT)
                    await asyncio.sleep(max(3.0, ttl))  # it renews, is refused, goes standby
                    woken = len(state.applied_keys) - writes + await asyncio.to_thread(_rows_after, store_url, woke)
                await asyncio.sleep(1.0)
                stop_sampling.set()
                await sampler
        finally:
            for p in procs:
                if p.returncode is None:
                    p.send_signal(signal.SIGCONT)
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    await asyncio.wait_for(p.wait(), 15)
                except TimeoutError:
                    p.kill()
                    await p.wait()
            for sipp in sipps:
                if sipp.poll() is None:
                    sipp.kill()
                sipp.wait()
            for log in logs:
                log.close()
    led = next(i for i, s in enumerate(leaders) if any(s))  # before it: the replicas were starting
    run = ReplicaRun(seed, replicas, sig, round(after, 3), swapped, round(takeover, 3), len(leaders) - led,
                     sum(sum(s) > 1 for s in leaders), sum(sum(s) == 0 for s in leaders[led:]),
                     list(state.applied_keys), woken)
    return judge(run, ttl)


def _rows_after(store_url: str, since: float) -> int:
    """Rows the old leader's term wrote after it woke (fencing refuses them: 0 expected)."""
    engine = sqlalchemy.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            term = conn.execute(sqlalchemy.text("SELECT term FROM lease")).scalar_one()
            return int(conn.execute(sqlalchemy.text(
                "SELECT (SELECT count(*) FROM decisions WHERE term < :t AND at >= :s)"
                " + (SELECT count(*) FROM intents WHERE term < :t AND created_at >= :s)"),
                {"t": term, "s": since}).scalar_one())
    finally:
        engine.dispose()


def judge(run: ReplicaRun, ttl: float) -> ReplicaRun:
    if run.two_leaders:
        run.why = f"{run.two_leaders} samples with two leaders"
    elif run.takeover_s > ttl + ttl / 3 + 0.5:  # + 0.5: the sampling period and a store round trip
        run.why = f"takeover took {run.takeover_s:.2f}s, over TTL {ttl:g}s + one renewal"
    elif len(run.applied_keys) != 1:
        run.why = f"{len(run.applied_keys)} writes applied"
    elif run.woken_writes:
        run.why = f"the woken leader wrote {run.woken_writes} times"
    else:
        run.ok = True
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per signal (SIGKILL and SIGSTOP)")
    parser.add_argument("--replicas", default="2,3", help="replica counts, taken in turn")
    parser.add_argument("--ttl", type=float, default=3.0, help="replica.lease_ttl in seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        print("bench/replicas.py needs sipp (apt-get install sip-tester)", file=sys.stderr)
        return 2
    counts = [int(c) for c in args.replicas.split(",")]
    runs: list[ReplicaRun] = []
    with tempfile.TemporaryDirectory(prefix="trunkguard-replicas-") as tmp:
        for sig in ("KILL", "STOP"):
            for n in range(args.runs):
                folder = Path(tmp) / f"{sig}-{n}"
                folder.mkdir()
                run = asyncio.run(replica_run(folder, args.seed + n, replicas=counts[n % len(counts)], sig=sig,
                                              ttl=args.ttl))
                runs.append(run)
                print(f"{'ok ' if run.ok else 'BAD'} SIG{sig} {run.replicas} replicas, run {n:>2}: signal "
                      f"{run.signal_after_s:4.2f}s into the outage ("
                      f"{'after' if run.swapped_before_signal else 'before'}"
                      f" the swap); takeover {run.takeover_s:.2f}s; {run.samples} samples, {run.two_leaders} with two "
                      f"leaders, {run.no_leader} with none; writes {len(run.applied_keys)}; woken writes "
                      f"{run.woken_writes} {run.why}", flush=True)
    print(f"\nlease TTL {args.ttl:g}s, renewed every {args.ttl / 3:.2f}s; bound TTL + one renewal = "
          f"{args.ttl * 4 / 3:.2f}s")
    print("| signal | replicas | runs | ok | takeover median | takeover max | samples with 2 leaders | "
          "applied writes per run | woken writes |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for sig in ("KILL", "STOP"):
        for count in counts:
            rs = [r for r in runs if r.signal == sig and r.replicas == count]
            if rs:
                print(f"| SIG{sig} | {count} | {len(rs)} | {sum(r.ok for r in rs)} | "
                      f"{statistics.median(r.takeover_s for r in rs):.2f}s | {max(r.takeover_s for r in rs):.2f}s | "
                      f"{sum(r.two_leaders for r in rs)} of {sum(r.samples for r in rs)} | "
                      f"{sorted({len(r.applied_keys) for r in rs})} | {sum(r.woken_writes for r in rs)} |")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2))
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
