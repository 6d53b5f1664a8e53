#!/usr/bin/env python3
"""The DID sweep at scale: 1,000 DIDs through SIPp's number-routing scenario at 200 calls/s.

Target (issue 4): all 1,000 in <= 10 s. At 200 CPS the schedule alone takes 5 s (the last call
starts at 4.995 s); the rest is answer, ACK and BYE time. Prints the measured duration, the achieved
calls/s, and whether SIPp saw every call complete as its scenario expects. Usage:
    python bench/sweep.py [--dids 1000] [--cps 200] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from trunkguard.probing.did_sweep import sweep
from trunkguard.sip.client import SipClient
from trunkguard.sip.uri import parse_uri

SCENARIO = Path(__file__).resolve().parent.parent / "src" / "trunkguard" / "lab" / "sipp" / "uas_invite_carrier.xml"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(port: int, dids: list[str], cps: float, concurrency: int) -> tuple[float, int, int]:
    async with SipClient() as client:
        result = await sweep(client, "secondary", parse_uri(f"sip:127.0.0.1:{port}"), dids, cps=cps,
                             concurrency=concurrency)
    return result.duration_s, result.ok, len(result.failed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dids", type=int, default=1000)
    parser.add_argument("--cps", type=float, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        sys.exit("sipp is not installed (Debian package sip-tester)")
    port = free_port()
    uas = subprocess.Popen(["sipp", "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(port), "-t", "u1",
                            "-mp", str(free_port()), "-cp", str(free_port()), "-deadcall_wait", "0",
                            "-m", str(args.dids), "-nostdin", "-timeout", "60s", "-timeout_error"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import time
        time.sleep(0.5)
        dids = [f"+1555{i:06d}1" for i in range(args.dids)]  # none ends in 404 or 480 (those are rejected)
        duration, ok, failed = asyncio.run(run(port, dids, args.cps, args.concurrency))
        sipp_rc = uas.wait(30)
    finally:
        if uas.poll() is None:
            uas.kill()
    met = ok == args.dids and duration <= 10.0 and sipp_rc == 0
    print(f"{args.dids} DIDs at {args.cps:g} CPS, {args.concurrency} in flight: {duration:.2f} s "
          f"({args.dids / duration:.0f} calls/s), {ok} answered 200, {failed} failed; SIPp exit {sipp_rc}")
    print("target (1,000 DIDs in <= 10 s at 200 CPS):", "MET" if met else "NOT MET")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
