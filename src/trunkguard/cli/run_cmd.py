"""`trunkguard run`: the daemon."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from trunkguard.cli.common import (
    CONFIG,
    EXIT_FAILED,
    config_error_exit,
    find_config,
    load_or_exit,
    require_store_driver,
)
from trunkguard.errors import ConfigError, StoreError, TrunkguardError

if TYPE_CHECKING:
    from collections.abc import Callable

    from trunkguard.app import Service
    from trunkguard.config import Config
    from trunkguard.sdnotify import Notifier

NAME = typer.Option(None, "--name", help="This process's name among replicas and vantages (else TRUNKGUARD_NAME, "
                                         "replica.name, the host's name).")
LISTEN = typer.Option(None, "--listen", help="Serve the API here instead of api.listen (several replicas sharing "
                                             "one config on one host).")
VERBOSE = typer.Option(False, "--verbose", "-v", help="Also log debug detail.")
LOG_FORMAT = typer.Option("text", "--log-format", help="json: one object per line, for log shippers.")


def run(config: Path | None = CONFIG,
        verbose: bool = VERBOSE, log_format: Literal["text", "json"] = LOG_FORMAT, name: str | None = NAME,
        listen: str | None = LISTEN) -> None:
    """Run the daemon: probe the carriers, decide, swap routing once, serve the local API. SIGTERM stops it.
    Several replicas on one store take turns: the one holding the lease acts, the others probe and wait."""
    _serve(config, verbose, log_format, name, listen, agent=False)


def agent(config: Path | None = CONFIG,
          verbose: bool = VERBOSE, log_format: Literal["text", "json"] = LOG_FORMAT, name: str | None = NAME,
          listen: str | None = LISTEN) -> None:
    """Run a vantage agent: probe the carriers from this site and report what it sees to the store, for
    the leader's quorum (vantages.names). It never acts, needs no platform credentials, pages nobody.
    Its config needs the carriers and storage.url; platform and notify are not read."""
    _serve(config, verbose, log_format, name, listen, agent=True)


def _serve(config: Path | None, verbose: bool, log_format: Literal["text", "json"], name: str | None,
           listen: str | None, *, agent: bool) -> None:
    from trunkguard import aio, logs
    from trunkguard.app import Service
    from trunkguard.config import with_listen
    from trunkguard.config_advice import policy_warnings

    cfg = load_or_exit(config)
    require_store_driver(cfg)
    if listen is not None:
        try:
            cfg = with_listen(cfg, listen)
        except ConfigError as exc:
            config_error_exit(exc)
    logs.configure(logging.DEBUG if verbose else logging.INFO, log_format)
    for field, why in policy_warnings(cfg):
        logging.getLogger("trunkguard").warning("config: %s: %s", field, why)
    try:
        service = Service.build(cfg, name=name, agent=agent)
    except ConfigError as exc:
        config_error_exit(exc)
    except StoreError as exc:
        typer.echo(f"trunkguard: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    def reread() -> Config:
        from trunkguard.config import load_config

        again = load_config(find_config(config))
        return with_listen(again, listen) if listen is not None else again

    try:
        aio.run(_main(service, reread))
    except TrunkguardError as exc:
        typer.echo(f"trunkguard: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None


async def _main(service: Service, reread: Callable[[], Config]) -> None:
    import asyncio

    from trunkguard.app import stop_on_signals
    from trunkguard.sdnotify import Notifier

    stop = asyncio.Event()
    systemd = Notifier()  # Type=notify: READY=1, WATCHDOG=1, RELOADING=1, STOPPING=1 (nothing outside systemd)
    stop_on_signals(stop, on_stop=systemd.stopping, on_hup=lambda: _reload(service, reread, systemd))
    if systemd.watchdog_every is not None:
        # WATCHDOG=1 comes from the loop's own turns, so a loop that stops turning is restarted by systemd;
        # it turns at least twice per ping interval even when nothing is due.
        service.runtime.max_sleep = systemd.watchdog_every / 2
        service.runtime.subscribe(lambda kind, _: systemd.beat() if kind == "cycle" else None)
    listen = service.config.api.listen

    def ready() -> None:
        logging.getLogger("trunkguard").info("API listening on %s", listen)
        systemd.ready()
        # What start-up built (modules, the config, the store's engine, the API) lives as long as the
        # process: out of the cyclic collector's sight, so its full collections scan only what the
        # loop makes; and young collections every 10,000 allocations rather than 700 (the fold makes
        # short-lived frozen values by the thousand, freed by reference counting, not by the
        # collector). Together, in spot checks at 1,000 trunks per carrier: 5.3-5.8 % of a core before,
        # 4.5-4.9 % after (README, "Scale", has the bench).
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)

    try:
        await service.run(stop, on_ready=ready)
    finally:
        systemd.close()


def _reload(service: Service, reread: Callable[[], Config], systemd: Notifier) -> None:
    """SIGHUP: re-read the config and apply its reloadable parts, or refuse it; one log line either way."""
    log = logging.getLogger("trunkguard")
    systemd.reloading()
    try:
        changed = service.reload(reread())
    except ConfigError as exc:
        log.warning("config reload refused: %s; still running with the config as it was",
                    "; ".join(f"{path}: {rule}" for path, rule in exc.problems))
    else:
        log.info("config reloaded: %s", f"{', '.join(changed)} changed" if changed else "nothing changed")
    systemd.ready()
