"""`trunkguard cycle`: one round for a scheduler (cli/cycle.py has the steps and exit codes)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from trunkguard.cli.common import (
    CONFIG,
    EXIT_FAILED,
    config_error_exit,
    emit_json,
    find_config,
    store_driver_problem,
    usage_error,
)
from trunkguard.errors import ConfigError, TrunkguardError

if TYPE_CHECKING:
    from trunkguard.cli.cycle import CycleResult


def run_cycle(config: Path, *, deadline: float = 60.0, name: str | None = None,
              environ: Mapping[str, str] | None = None) -> CycleResult:
    """One cycle against the config's store and platform (deploy/lambda and deploy/azure-function call
    this). Raises ConfigError for a bad config or environment, StoreError for an unreachable store.
    No API is served, so no API token is needed (`api.token_env` may be unset)."""
    from trunkguard.config import load_config

    cfg = load_config(config)
    problem = store_driver_problem(cfg.storage.url)
    if problem is not None:  # said before the daemon's parts are even imported
        raise ConfigError([("storage.url", problem)], "this installation")
    from trunkguard import aio
    from trunkguard.app import Service
    from trunkguard.cli.cycle import cycle_config, one_cycle

    service = Service.build(cycle_config(cfg), environ, name=name, candidate=False)
    return aio.run(one_cycle(service, deadline, recheck_every=cfg.policy.readiness.recheck_interval))


class CycleFailed(RuntimeError):
    """Raised by `scheduled` for a run that could not finish or whose swap failed, so the scheduler's own
    error count and alarms see it (Lambda's Errors metric, Azure's failed executions)."""


def scheduled(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The serverless handlers' one call: the config at $TRUNKGUARD_CONFIG, the run's deadline at
    $TRUNKGUARD_CYCLE_DEADLINE (seconds, default 50: under a one-minute schedule), the result logged as
    one JSON line and returned. Secrets come from the environment, as for the daemon."""
    from trunkguard import logs
    from trunkguard.cli.cycle import SWAP_FAILED, TROUBLE

    env = os.environ if environ is None else environ
    logs.configure(logging.INFO, "json")
    path = Path(env.get("TRUNKGUARD_CONFIG", "/etc/trunkguard/trunkguard.yaml"))
    result = run_cycle(path, deadline=float(env.get("TRUNKGUARD_CYCLE_DEADLINE", "50")), environ=env)
    logging.getLogger("trunkguard").info("cycle: %s", json.dumps(result.as_json()),
                                         extra=logs.fields("cycle_finished", outcome=result.outcome, code=result.code,
                                                           result=result.as_json()))
    if result.code in (TROUBLE, SWAP_FAILED):
        raise CycleFailed(f"trunkguard cycle: {result.outcome}: {result.sentence}")
    return result.as_json()


def cycle(config: Path | None = CONFIG,
          deadline: str = typer.Option("60s", "--deadline", help="Give up (exit 1) after this long."),
          name: str | None = typer.Option(None, "--name", help="This run's name among replicas (default: the "
                                                                "host's)."),
          as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
          verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the run does, on stderr.")) -> None:
    """One round for a scheduler: probe every trunk (confirming failures within the run), take the lease,
    decide once, carry out queued actions and at most one swap, record, exit. Exit 0 nothing to do,
    10 swapped, 11 swap failed, 12 waiting on calls or a person, 3 another replica leads, 1 trouble."""
    from trunkguard import logs
    from trunkguard.durations import parse_duration

    logs.configure(logging.INFO if verbose else logging.WARNING)
    try:
        seconds = parse_duration(deadline)
    except ValueError as exc:
        usage_error(f"--deadline: {exc}")
    try:
        result = run_cycle(find_config(config), deadline=seconds, name=name)
    except ConfigError as exc:
        config_error_exit(exc, as_json=as_json)
    except TrunkguardError as exc:
        typer.echo(f"trunkguard: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    if as_json:
        emit_json(result.as_json())
    else:
        typer.echo(f"{result.outcome} ({result.seconds:.1f}s): {result.sentence}")
        for swap in result.swaps:
            typer.echo(f"  swap {swap['key']} to the {swap['to']} carrier: {swap['status']} ({swap['outcome']})")
        for sentence in result.actions:
            typer.echo(f"  queued action: {sentence}")
        if result.rechecked:
            typer.echo(f"  re-checked (they were due): {', '.join(result.rechecked)}")
        if result.hint:
            typer.echo(f"  {result.hint}")
    raise typer.Exit(result.code)
