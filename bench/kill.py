#!/usr/bin/env python3
"""SIGKILL while a slow platform write is in flight: does every run end with one applied write,
recorded against the key the platform received?

Each run: a fresh store and a fresh platform emulator whose first rule PUT takes `--latency`
seconds (the write lands after the pause whether or not anyone still waits for the answer); a
real `trunkguard run` subprocess with a SIPp UAS on each carrier; the primary's SIPp killed, so the
daemon commits an activation; a SIGKILL at a random moment from the intent's commit to past the write's landing; a
restart, which settles the intent by reading. Then, per run: the writes the platform applied and
their Idempotency-Keys, and the intents as the store recorded them.

    python bench/kill.py [--runs 50] [--latency 2] [--json FILE]
Target (issue 11): every run ends with exactly one applied write, and the one intent recorded as
applied (or reconciled) with a write is the one whose key the platform received.
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
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from trunkguard.asgi import serving
from trunkguard.store import IntentStatus, Store
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule

try:
    from bench.scale import free_port, start_sipp
except ImportError:  # run as a script: bench/ itself is on sys.path
    from scale import free_port, start_sipp  # type: ignore[no-redef]

RULE = "rule-inbound-1"
TOKEN = "kill-token"


@dataclass
class KillRun:
    seed: int
    kill_after_s: float            # from the intent's commit
    moment: str                    # where the kill came: "before the write", "write in flight", "after the swap"
    applied_keys: list[str]
    intents: list[dict[str, str]] = field(default_factory=list)
    settled_s: float = 0.0         # restart to routing settled on the secondary
    ok: bool = False
    why: str = ""


def judge(run: KillRun) -> KillRun:
    """One applied write; the intent recorded as applied with a write is the one the platform got."""
    landed = {IntentStatus.APPLIED.value, IntentStatus.RECONCILED.value}
    claimed = [i["key"] for i in run.intents if i["status"] in landed and "nothing written" not in i["outcome"]
               and "0 written" not in i["outcome"]]
    if len(run.applied_keys) != 1:
        run.why = f"{len(run.applied_keys)} writes applied"
    elif claimed != run.applied_keys:
        run.why = f"the store says {claimed} wrote, the platform received {run.applied_keys}"
    elif any(i["status"] == IntentStatus.PENDING.value for i in run.intents):
        run.why = "an intent is still pending"
    else:
        run.ok = True
    return run


def config_text(port: int, p_port: int, s_port: int, store_url: str, *, ttl: float, api_listen: str | None = None,
                timeout: str = "2s") -> str:
    """The benches' daemon: one UDP trunk per carrier (a SIPp UAS each), fast detection, the platform
    emulator at `port`, the store at `store_url`; no `api_listen`: the default, or `--listen`."""
    health = "{interval: 1s, timeout: 800ms, confirm_interval: 200ms, down_after: 2, confirm_burst: 2, up_after: 2}"
    listen = f'listen: "{api_listen}", ' if api_listen else ""
    return f"""
carriers:
  primary:
    trunk_group_id: tg-primary
    health: {health}
    trunks: [{{name: primary-1, uri: "sip:127.0.0.1:{p_port};transport=udp"}}]
  secondary:
    trunk_group_id: tg-secondary
    health: {health}
    trunks: [{{name: secondary-1, uri: "sip:127.0.0.1:{s_port};transport=udp"}}]
policy:
  poll_interval: 500ms
  failback: {{mode: approval}}
  readiness: {{trunks: true, sweep: false, certs: false, parity: false}}
platform:
  kind: emulator
  base_url: http://127.0.0.1:{port}
  rule_id: {RULE}
  queue_id: primary_inbound_queue_id
  client_id_env: TRUNKGUARD_CLIENT_ID
  client_secret_env: TRUNKGUARD_CLIENT_SECRET
  timeout: {timeout}
storage: {{url: "{store_url}", trace_retention: 0s}}
api: {{{listen}token_env: TRUNKGUARD_API_TOKEN}}
replica: {{lease_ttl: {ttl:g}s}}
"""


async def kill_run(folder: Path, seed: int, *, latency: float = 2.0, python: str = sys.executable) -> KillRun:
    rng = random.Random(seed)
    state = EmulatorState(rules={RULE: default_rule(RULE, "tg-primary")}, calls={"primary_inbound_queue_id": 0})
    state.faults.append({"method": "PUT", "latency": latency})  # the first write lands `latency` s after it arrives
    port, api_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    p_port, s_port = free_port(), free_port()
    db = folder / "trunkguard.db"
    config = folder / "trunkguard.yaml"
    config.write_text(config_text(port, p_port, s_port, f"sqlite:///{db}", ttl=2.0, api_listen=f"127.0.0.1:{api_port}",
                                  timeout="3s"))
    env = {**os.environ, "TRUNKGUARD_CLIENT_ID": "trunkguard", "TRUNKGUARD_CLIENT_SECRET": "lab-secret",
           "TRUNKGUARD_API_TOKEN": TOKEN}
    api = f"http://127.0.0.1:{api_port}"
    sipps = [start_sipp(p_port, folder / "sipp-primary.log"), start_sipp(s_port, folder / "sipp-secondary.log")]
    log = (folder / "daemon.log").open("ab")

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(python, "-m", "trunkguard", "run", "--config", str(config),
                                                    env=env, stdout=log, stderr=log)

    async def status(client: httpx.AsyncClient) -> dict[str, object] | None:
        try:
            return (await client.get(f"{api}/api/v1/status", timeout=1)).json()  # type: ignore[no-any-return]
        except (httpx.HTTPError, ValueError):
            return None

    async def until(what: str, check: object, timeout: float) -> float:
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            while time.monotonic() - started < timeout:
                s = await status(client)
                if s is not None and check(s):  # type: ignore[operator]
                    return time.monotonic() - started
                await asyncio.sleep(0.05)
        raise RuntimeError(f"run {seed}: timed out waiting for {what}; see {folder / 'daemon.log'}")

    def all_up(s: dict[str, object]) -> bool:
        return all(t["state"] == "up" for c in s["carriers"].values() for t in c["trunks"])  # type: ignore[attr-defined]

    stores: list[Store] = []

    def pending_now() -> bool:
        try:
            if not stores:
                stores.append(Store(f"sqlite:///{db}"))
            return any(i.status is IntentStatus.PENDING for i in stores[0].intents(limit=5))
        except Exception:  # the daemon may not have created the tables yet
            return False

    async def pending() -> bool:
        return await asyncio.to_thread(pending_now)

    daemon = None
    try:
        async with serving(create_app(state), "127.0.0.1", port):
            daemon = await start()
            await until("both carriers up", all_up, 30)
            sipps[0].kill()  # the primary carrier dies: the daemon detects it and commits an activation
            started = time.monotonic()
            while not await pending():
                if time.monotonic() - started > 30:
                    raise RuntimeError(f"run {seed}: no intent committed within 30 s; see {folder / 'daemon.log'}")
                await asyncio.sleep(0.005)
            # a third of the kills come within 30 ms of the commit, often before the write has left
            kill_after = rng.uniform(0.0, 0.03) if rng.random() < 1 / 3 else rng.uniform(0.0, latency)
            await asyncio.sleep(kill_after)
            arrived = state.faults == []  # the slow PUT has arrived (its fault was taken)
            daemon.send_signal(signal.SIGKILL)
            moment = "after the swap" if not await pending() else "write in flight" if arrived else "before the write"
            await daemon.wait()
            daemon = await start()
            settled = await until("routing settled on the secondary",
                                  lambda s: s["active"] == "secondary" and s["in_flight"] is None, 40)
            await asyncio.sleep(latency + 0.5)  # any write still on its way lands
            intents = [{"key": i.key, "status": i.status.value, "outcome": i.outcome}
                       for i in await asyncio.to_thread(stores[0].intents)]
            return judge(KillRun(seed, round(kill_after, 3), moment, list(state.applied_keys), intents,
                                 round(settled, 2)))
    finally:
        for store in stores:
            store.close()
        if daemon is not None and daemon.returncode is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(daemon.wait(), 15)
            except TimeoutError:
                daemon.kill()
        for sipp in sipps:
            if sipp.poll() is None:
                sipp.kill()
            sipp.wait()
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        print("bench/kill.py needs sipp (apt-get install sip-tester)", file=sys.stderr)
        return 2
    runs: list[KillRun] = []
    with tempfile.TemporaryDirectory(prefix="trunkguard-kill-") as tmp:
        for n in range(args.runs):
            folder = Path(tmp) / f"run-{n}"
            folder.mkdir()
            run = asyncio.run(kill_run(folder, args.seed + n, latency=args.latency))
            runs.append(run)
            mark = "ok " if run.ok else "BAD"
            statuses = ",".join(i["status"] for i in run.intents)
            print(f"{mark} run {n:>2}: kill {run.kill_after_s:5.2f}s after the intent ({run.moment}); "
                  f"intents {statuses}; "
                  f"writes {run.applied_keys}; settled {run.settled_s:.2f}s after restart {run.why}", flush=True)
    good = sum(r.ok for r in runs)
    shapes = Counter((r.moment, ",".join(i["status"] for i in r.intents)) for r in runs)
    print(f"\n{good}/{len(runs)} runs: one applied write, recorded against the key the platform received")
    print("| kill came | intents recorded | runs |\n| --- | --- | --- |")
    for (when, statuses), count in sorted(shapes.items()):
        print(f"| {when} | {statuses} | {count} |")
    print(f"settle after restart: median {statistics.median(r.settled_s for r in runs):.2f}s, "
          f"max {max(r.settled_s for r in runs):.2f}s")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2))
    return 0 if good == len(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
