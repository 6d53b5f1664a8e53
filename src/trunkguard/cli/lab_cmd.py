"""`trunkguard lab`: the lab alone, for rehearsals; `trunkguard lab fault` switches its faults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from trunkguard.cli.common import EXIT_FAILED, emit_json, examples, usage_error

app = typer.Typer(help="The lab: two simulated carriers and the platform emulator on loopback.",
                  invoke_without_command=True, no_args_is_help=False,
                  epilog=examples("trunkguard lab --dir /tmp/lab     # then: trunkguard run --config "
                                  "/tmp/lab/trunkguard.yaml", "trunkguard lab fault carrier-a --down"))
LAB_URL = typer.Option("http://127.0.0.1:8701", "--url", help="The lab's control URL (printed when it starts).")


@app.callback()
def lab(ctx: typer.Context,
        folder: Path = typer.Option(Path("trunkguard-lab"), "--dir", help="Where to write the config and store."),
        port: int = typer.Option(8701, "--port", help="The platform emulator's and control API's port."),
        api_port: int = typer.Option(8080, "--api-port", help="The port the written config gives the daemon."),
        profile: Literal["fast", "guide"] = typer.Option("fast", "--profile", help="The carriers' probe timing.")
        ) -> None:
    """Start the lab and write a config for `trunkguard run`; Ctrl-C stops it."""
    from trunkguard import aio
    from trunkguard.lab.lab import PROFILES

    if ctx.invoked_subcommand is not None:
        return
    if profile not in PROFILES:
        usage_error(f"--profile must be one of {', '.join(PROFILES)}")
    folder.mkdir(parents=True, exist_ok=True)
    aio.run(_serve(folder.resolve(), port, api_port, profile))


async def _serve(folder: Path, port: int, api_port: int, profile: str) -> None:
    import asyncio
    import secrets  # with hashlib and hmac, 4 ms of every command's start-up at the top

    from trunkguard.app import stop_on_signals
    from trunkguard.lab.lab import lab_environment, running_lab

    stop = asyncio.Event()
    stop_on_signals(stop)
    token = secrets.token_urlsafe(12)
    async with running_lab(port=port) as lab:
        config = folder / "trunkguard.yaml"
        text = lab.config_text(profile, storage=f"sqlite:///{folder}/trunkguard.db", api_listen=f"127.0.0.1:{api_port}")
        await asyncio.to_thread(config.write_text, text)
        env = " ".join(f"{k}={v}" for k, v in lab_environment(token).items())
        typer.echo(f"""lab running ({profile} profile); Ctrl-C stops it
  carrier-a (primary)   {lab.primary.uri}
  carrier-b (secondary) {lab.secondary.uri}
  platform emulator     {lab.url}   (state: {lab.url}/_emulator/state)
  config                {config}

run the daemon against it:
  export {env}
  trunkguard sweep --config {config} && trunkguard certs --config {config} && trunkguard parity --config {config}
  trunkguard run --config {config}

rehearse:
  trunkguard lab fault carrier-a --down          # silence the primary
  trunkguard lab fault carrier-a --heal
  trunkguard lab fault carrier-b --media-down    # SIP answers, no RTP
  trunkguard lab fault carrier-b --reject +15550000003
  trunkguard status --config {config}""")
        await stop.wait()


@app.command("fault", epilog=examples(
    "trunkguard lab fault carrier-a --down", "trunkguard lab fault carrier-b --reject +15550000003",
    "trunkguard lab fault carrier-a --heal"))
def fault(carrier: str = typer.Argument(..., help="carrier-a or carrier-b."),
          down: bool = typer.Option(False, "--down", help="No answer at all."),
          code: int | None = typer.Option(None, "--code", help="Answer every request with this code, e.g. 503."),
          loss: float = typer.Option(0.0, "--loss", min=0.0, max=1.0, help="Drop this share of requests."),
          latency: float = typer.Option(0.0, "--latency", min=0.0, help="Answer this many seconds late."),
          media_down: bool = typer.Option(False, "--media-down", help="SIP answers but no RTP comes back."),
          reject: list[str] = typer.Option([], "--reject", help="Answer 404 for this DID (repeatable)."),
          heal: bool = typer.Option(False, "--heal", help="Clear every fault."),
          url: str = LAB_URL, as_json: bool = typer.Option(False, "--json")) -> None:
    """Switch a lab carrier's fault."""
    import httpx

    body: dict[str, object] = {} if heal else {"down": down, "code": code, "loss": loss, "latency": latency,
                                               "media_down": media_down, "reject": reject}
    try:
        response = httpx.post(f"{url}/_lab/carriers/{carrier}/fault", json=body, timeout=5)
    except httpx.HTTPError as exc:
        typer.echo(f"trunkguard: cannot reach the lab at {url} ({type(exc).__name__}); is `trunkguard lab` running?",
                   err=True)
        raise typer.Exit(EXIT_FAILED) from None
    data = response.json()
    if response.status_code != 200:
        typer.echo(f"trunkguard: {data.get('error')}", err=True)
        raise typer.Exit(EXIT_FAILED)
    if as_json:
        emit_json(data)
    else:
        typer.echo(f"{data['carrier']}: {data['fault']}")
