"""`trunkguard run`: the daemon."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn

import typer

from trunkguard import __version__
from trunkguard.cli.common import (
    CONFIG,
    EXIT_FAILED,
    EXIT_USAGE,
    NO_CONFIG,
    check_store_driver,
    find_config,
    locate_config,
    store_kind,
)
from trunkguard.errors import ConfigError, ListenError, StoreError, TrunkguardError
from trunkguard.logs import fields

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
LOG_FORMAT = typer.Option("text", "--log-format", help="text: logfmt (key=value) lines; json: one object per "
                                                      "line. Both carry ts, level, event, fields, msg "
                                                      "(docs/logs.md).")
log = logging.getLogger("trunkguard")


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
    """Start the daemon (or agent). Logging is set up first, so every fatal start-up error is one log
    line in the chosen format (JSON with `--log-format json`) with its event name, then a non-zero exit:
    2 for a bad config (one `config_invalid` line per problem), 1 for the rest."""
    from trunkguard import aio, logs

    logs.configure(logging.DEBUG if verbose else logging.INFO, log_format)
    from trunkguard.app import Service
    from trunkguard.config import load_config, with_listen
    from trunkguard.config_advice import policy_warnings

    path = locate_config(config)
    if path is None:
        _fatal("config_missing", NO_CONFIG, EXIT_USAGE)
    try:
        cfg = load_config(path)
        check_store_driver(cfg)
        if listen is not None:
            cfg = with_listen(cfg, listen)
    except ConfigError as exc:
        _config_fatal(exc, path)
    for field, why in policy_warnings(cfg):
        log.warning("config: %s: %s", field, why, extra=fields("config_warning", path=field, rule=why))
    store = store_kind(cfg.storage.url)
    try:
        service = Service.build(cfg, name=name, agent=agent)
    except ConfigError as exc:
        _config_fatal(exc, path)
    except StoreError as exc:
        _fatal("store_unavailable", f"cannot open the store: {exc}", EXIT_FAILED, store=store)
    trunks = len(cfg.all_trunks())
    mode = "agent" if agent else "daemon"
    log.info("trunkguard %s started as %s %s: config %s, %d trunks, %s store", __version__, mode,
             service.lease.identity.name, path, trunks, store,
             extra=fields("started", version=__version__, mode=mode, name=service.lease.identity.name,
                          config=str(path), trunks=trunks, store=store))
    def reread() -> Config:
        from trunkguard.config import load_config

        again = load_config(find_config(config))
        return with_listen(again, listen) if listen is not None else again

    try:
        aio.run(_main(service, reread))
    except ListenError as exc:
        _fatal("listen_failed", str(exc), EXIT_FAILED, listen=service.config.api.listen)
    except TrunkguardError as exc:
        _fatal("fatal_error", str(exc), EXIT_FAILED, error=type(exc).__name__)
    except Exception as exc:  # a bug: still one log line (with the traceback) in the chosen format, exit 1
        log.critical("stopped on an unexpected error: %s: %s", type(exc).__name__, exc, exc_info=True,
                     extra=fields("crashed", error=type(exc).__name__))
        raise typer.Exit(EXIT_FAILED) from None


def _fatal(event: str, sentence: str, code: int, **values: object) -> NoReturn:
    """A fatal start-up error: one critical log line, then exit `code`."""
    log.critical("%s", sentence, extra=fields(event, **values))
    raise typer.Exit(code)


def _config_fatal(exc: ConfigError, path: Path) -> NoReturn:
    """A bad config: one `config_invalid` line per problem (the field's dotted path and its rule), exit 2."""
    for field, rule in exc.problems:
        log.critical("%s is not valid: %s: %s", exc.source, field, rule,
                     extra=fields("config_invalid", config=str(path), path=field, rule=rule))
    raise typer.Exit(EXIT_USAGE)


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
        log.info("API listening on %s", listen, extra=fields("api_listening", listen=listen))
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
    systemd.reloading()
    try:
        changed = service.reload(reread())
    except ConfigError as exc:
        why = "; ".join(f"{path}: {rule}" for path, rule in exc.problems)
        log.warning("config reload refused: %s; still running with the config as it was", why,
                    extra=fields("config_reload_refused", problems=why))
    else:
        log.info("config reloaded: %s", f"{', '.join(changed)} changed" if changed else "nothing changed",
                 extra=fields("config_reloaded", changed=",".join(changed)))
    systemd.ready()
