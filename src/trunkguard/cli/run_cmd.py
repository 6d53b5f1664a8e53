"""`trunkguard run`: the daemon."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import typer

from trunkguard import aio
from trunkguard.cli.common import EXIT_FAILED, config_error_exit, load_or_exit
from trunkguard.engine.service import Service, stop_on_signals
from trunkguard.errors import ConfigError, TrunkguardError
from trunkguard.store import StoreError


def run(config: Path = typer.Option(..., "--config", "-c", help="The YAML configuration file."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Also log routine suspicions and probe noise.")
        ) -> None:
    """Run the daemon: probe the carriers, decide, swap routing once, serve the local API. SIGTERM stops it."""
    cfg = load_or_exit(config)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("httpx", "httpcore", "alembic", "uvicorn"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        service = Service.build(cfg)
    except ConfigError as exc:
        config_error_exit(exc)
    except StoreError as exc:
        typer.echo(f"trunkguard: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    try:
        aio.run(_main(service))
    except TrunkguardError as exc:
        typer.echo(f"trunkguard: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None


async def _main(service: Service) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    listen = service.engine.config.api.listen
    await service.run(stop, on_ready=lambda: logging.getLogger("trunkguard").info("API listening on %s", listen))
