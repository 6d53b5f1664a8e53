"""`trunkguard demo`: the whole outage drill on an embedded lab, nothing to configure.

Starts the lab (two carriers answering OPTIONS and INVITE with RTP echo, the platform emulator,
SQLite in a temporary folder), runs the secondary's readiness checks, starts the orchestrator,
waits until both carriers are healthy, silences the primary, and shows the timeline until the
swap is committed and read back. Then it restores the primary, shows that nothing moves back
without a person, approves the failback through the daemon's API, and shows the return.
Exit 0 when the cutover (onset to committed swap) meets the profile's target.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from trunkguard.cli.common import EXIT_FAILED, emit_json, usage_error
from trunkguard.core.wording import count

if TYPE_CHECKING:  # the lab, the daemon and httpx are imported when the drill runs
    from rich.console import Console

    from trunkguard.app import Service
    from trunkguard.lab.lab import Lab


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@dataclass
class Drill:
    profile: str
    quiet: bool
    console: Console = field(default_factory=_console)
    started: float = field(default_factory=time.monotonic)
    swaps: list[dict[str, Any]] = field(default_factory=list)
    cutover_s: float | None = None
    steps: list[str] = field(default_factory=list)

    def say(self, text: str, style: str = "") -> None:
        if not self.quiet:
            at = time.monotonic() - self.started
            self.console.print(f"[dim]{at:7.2f}s[/]  " + (f"[{style}]{text}[/]" if style else text))

    def at(self) -> float:
        return round(time.monotonic() - self.started, 3)


def demo(as_json: bool = typer.Option(False, "--json", help="Print one JSON object: cutover_s, swaps, ok."),
         profile: Literal["fast", "guide"] = typer.Option("fast", "--profile",
                                                          help="fast: 1 s probes; guide: 15 s, 3 failures."),
         keep: bool = typer.Option(False, "--keep", help="Keep the temporary folder (config, store, checks).")
         ) -> None:
    """Run the outage drill: the primary carrier dies, routing moves once, and comes back on approval."""
    from trunkguard import aio
    from trunkguard.lab.lab import PROFILES

    if profile not in PROFILES:
        usage_error(f"--profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    drill = Drill(profile, quiet=as_json)
    import tempfile  # here, not at the top: every command's start-up would pay for it (bench/startup.py)

    logging.getLogger("trunkguard").setLevel(logging.ERROR)  # the timeline below says it all
    folder = tempfile.mkdtemp(prefix="trunkguard-demo-")
    try:
        ok = aio.run(_drill(drill, Path(folder)))
    finally:
        if keep and not as_json:
            typer.echo(f"kept {folder}")
        elif not keep:
            shutil.rmtree(folder, ignore_errors=True)
    target = PROFILES[profile]["target_s"]
    if as_json:
        emit_json({"cutover_s": drill.cutover_s, "swaps": drill.swaps, "ok": ok, "profile": profile,
                   "target_s": target, "steps": drill.steps})
    elif ok:
        typer.echo(f"drill passed: cutover {drill.cutover_s:.2f}s (target {target:g}s), "
                   f"{count(len(drill.swaps), 'swap')}, failback only after approval")
    else:
        typer.echo(f"drill FAILED: {drill.steps[-1] if drill.steps else 'see above'}")
    if not ok:
        raise typer.Exit(EXIT_FAILED)


async def _drill(drill: Drill, folder: Path) -> bool:
    import asyncio
    import secrets  # 10 ms with hashlib and hmac: only when the drill runs

    from trunkguard.app import Service
    from trunkguard.config import parse_config
    from trunkguard.config_checks import run_readiness
    from trunkguard.lab.lab import PROFILES, free_tcp_port, lab_environment, running_lab

    token = secrets.token_urlsafe(16)
    p = PROFILES[drill.profile]
    async with running_lab() as lab:
        api = f"127.0.0.1:{free_tcp_port()}"
        text = lab.config_text(drill.profile, storage=f"sqlite:///{folder}/trunkguard.db", api_listen=api)
        (folder / "trunkguard.yaml").write_text(text)
        cfg = parse_config(text, source="demo")
        drill.say(f"lab up: carrier A {lab.primary.uri}, carrier B {lab.secondary.uri}, platform {lab.url}")
        checks = await run_readiness(cfg)
        sweep = checks["sweep"]
        drill.say(f"secondary readiness: DID sweep {sweep['answered']}/{sweep['total']} answered in "
                  f"{sweep['seconds']:.1f}s; parity {'ok' if checks['parity']['ok'] else 'FAILED'}; "
                  f"no TLS trunks to check")
        service = Service.build(cfg, lab_environment(token))
        service.runtime.subscribe(lambda kind, data: _show(drill, kind, data))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            return await _script(drill, lab, service, api, token, float(p["target_s"]))
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)


async def _script(drill: Drill, lab: Lab, service: Service, api: str, token: str, target: float) -> bool:
    import asyncio

    import httpx

    from trunkguard.api.view import status_json
    from trunkguard.lab.responder import Fault

    slow = drill.profile == "guide"
    poll = service.config.policy.poll_interval

    async def until(check: Any, what: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if check():
                return True
            await asyncio.sleep(0.02)
        drill.steps.append(f"timed out after {timeout:g}s waiting for {what}")
        drill.say(drill.steps[-1], "bold red")
        return False

    def usable(role: str) -> bool:
        return any(h.usable and h.state.value == "up" and h.media_ok for h in service.status().health.values()
                   if h.carrier == role)

    if not await until(lambda: usable("primary") and usable("secondary"), "both carriers healthy (SIP and media)",
                       90 if slow else 20):
        return False
    drill.steps.append("both carriers healthy")
    drill.say("both carriers healthy (OPTIONS answered, test calls carry RTP both ways)", "green")
    lab.primary.fault = Fault(down=True)
    onset = time.time()  # the runtime's clock: its snapshot times are wall-clock seconds
    drill.say("carrier A goes silent: the outage starts now", "bold red")
    def settled_on(role: str) -> bool:
        pair = service.status().pair
        return pair.active == role and pair.in_flight is None and lab.routed_to() == f"tg-{role}"

    if not await until(lambda: settled_on("secondary"), "the swap to be committed and read back",
                       120 if slow else 30):
        return False
    drill.cutover_s = round(service.status().pair.since - onset, 3)
    drill.steps.append(f"cutover {drill.cutover_s:.2f}s")
    drill.say(f"cutover: {drill.cutover_s:.2f}s from onset to committed swap (target {target:g}s); the platform "
              f"rule reads {lab.routed_to()}", "bold green" if drill.cutover_s <= target else "bold red")
    lab.primary.fault = Fault()
    drill.say("carrier A answers again")
    if not await until(lambda: status_json(service.status())["pending_approval"], "the failback to wait for approval",
                       120 if slow else 30):
        return False
    writes = lab.emulator.writes_applied
    await asyncio.sleep(3 * poll)
    if lab.routed_to() != "tg-secondary" or lab.emulator.writes_applied != writes:
        drill.steps.append("routing moved back without approval")
        return False
    drill.steps.append("nothing moved back without approval")
    drill.say(f"{3 * poll:g}s later routing is still on carrier B: failback waits for a person",
              "yellow")
    drill.say("a person approves through the daemon's API, as `trunkguard failback --reason "
              "'carrier A confirmed the fault is fixed'` does", "cyan")
    async with httpx.AsyncClient() as client:
        response = await client.post(f"http://{api}/api/v1/actions", headers={"Authorization": f"Bearer {token}"},
                                     json={"kind": "failback", "who": "demo operator",
                                           "reason": "carrier A confirmed the fault is fixed"}, timeout=30)
    if response.status_code != 200:
        drill.steps.append(f"the approval was refused: HTTP {response.status_code} {response.text[:200]}")
        return False
    if not await until(lambda: settled_on("primary"), "the failback", 60):
        return False
    drill.steps.append("failback committed after approval")
    return drill.cutover_s <= target and lab.emulator.writes_applied == 2


def _show(drill: Drill, kind: str, data: dict[str, Any]) -> None:
    if kind == "sentence":
        drill.say(str(data["sentence"]))
    elif kind == "swap_done" and data.get("ok"):
        drill.swaps.append({"at_s": drill.at(), "to": data["to"]})
    elif kind == "notify":
        drill.say(f"notify ({data['severity']}): {data['kind']}", "magenta")

