"""`trunkguard demo`: probes two lab carriers on loopback, then takes the primary down.

This is the probe engine's drill; the full outage drill (swap, approval, failback) arrives with
the orchestrator.
"""

from __future__ import annotations

import asyncio
import time

import typer

from trunkguard import aio
from trunkguard.cli.common import EXIT_FAILED, emit_json
from trunkguard.lab.responder import Fault, SipResponder
from trunkguard.probing.result import ProbeResult
from trunkguard.probing.sip_options import OptionsCheck, probe_options
from trunkguard.sip.client import SipClient
from trunkguard.sip.uri import parse_uri


def demo(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Run the lab drill: two carriers answer, the primary dies, its probes time out."""
    timeline = aio.run(_drill(quiet=as_json))
    primary = [r for _, r in timeline if r.trunk == "primary-1"]
    ok = bool(primary) and primary[0].success and not primary[-1].success
    ok = ok and all(r.success for _, r in timeline if r.trunk == "secondary-1")
    if as_json:
        emit_json({"ok": ok, "probes": [{"at_s": round(at, 3), **r.as_dict()} for at, r in timeline]})
    else:
        typer.echo("drill passed: the primary's outage was seen, the secondary stayed healthy" if ok
                   else "drill FAILED")
    if not ok:
        raise typer.Exit(EXIT_FAILED)


async def _drill(*, quiet: bool) -> list[tuple[float, ProbeResult]]:
    primary = await SipResponder(server_header="lab carrier A").start()
    secondary = await SipResponder(server_header="lab carrier B").start()
    checks = [OptionsCheck("primary-1", parse_uri(primary.uri), timeout=0.5),
              OptionsCheck("secondary-1", parse_uri(secondary.uri), timeout=0.5)]
    timeline: list[tuple[float, ProbeResult]] = []
    started = time.monotonic()

    def say(text: str) -> None:
        if not quiet:
            typer.echo(f"{time.monotonic() - started:6.2f}s  {text}")

    say(f"lab carriers up: primary {primary.uri}, secondary {secondary.uri}")
    try:
        async with SipClient() as client:
            for round_no in range(6):
                if round_no == 3:
                    primary.fault = Fault(down=True)
                    say("primary carrier goes silent")
                results = await asyncio.gather(*(probe_options(client, c) for c in checks))
                for result in results:
                    timeline.append((time.monotonic() - started, result))
                    say(f"{result.trunk:<12} {result.summary()}")
                await asyncio.sleep(0.2)
    finally:
        await primary.stop()
        await secondary.stop()
    return timeline
