"""`trunkguard simulate`: a scenario through the one machine on a virtual clock; `trunkguard replay`: the
daemon's recorded trace through another config."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from trunkguard.cli.common import (
    CONFIG,
    EXIT_FAILED,
    config_error_exit,
    emit_json,
    load_or_exit,
    store_driver_problem,
    usage_error,
)
from trunkguard.core.wording import count
from trunkguard.errors import ConfigError, StoreError
from trunkguard.moments import iso


def simulate(
    config: Path | None = CONFIG,
    scenario: Path = typer.Option(..., "--scenario", "-s", help="The scenario YAML."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (overrides the scenario's)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show suspicions that cleared."),
) -> None:
    """Replay SCENARIO on a virtual clock: probes, decisions, swaps and notifications."""
    from trunkguard.rules import sim_world
    from trunkguard.sim.runner import simulate as run_simulation
    from trunkguard.sim.scenario import load_scenario

    cfg = load_or_exit(config, as_json=as_json)
    try:
        plan = load_scenario(scenario)
        plan.check_trunks({t.name for _, _, t in cfg.all_trunks()}, str(scenario),
                          [g.name for g in cfg.routing_groups()])
    except ConfigError as exc:
        config_error_exit(exc, as_json=as_json)
    result = run_simulation(sim_world(cfg), plan, seed, record_timeline=not as_json, verbose=verbose)
    if as_json:
        emit_json(result.as_dict())
        return
    for at, sentence in result.timeline:
        typer.echo(f"{_clock(at)}  {sentence}")
    speed = result.duration_s / result.wall_s if result.wall_s else float("inf")
    typer.echo(f"-- {result.duration_s:g} s simulated in {result.wall_s:.2f} s ({speed:,.0f}x real time), seed "
               f"{result.seed}: {count(result.probes_sent, 'probe')}, {count(len(result.swaps), 'swap')}, "
               f"{count(len(result.notifications), 'notification')}, "
               f"{count(result.cleared_suspicions, 'suspicion')} cleared "
               f"(--verbose shows them); final: {result.final_active} carrier")


def _clock(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"


def replay(
    config: Path | None = CONFIG,
    trace: Path | None = typer.Option(None, "--trace", help="An exported trace file (default: the store's)."),
    store: str | None = typer.Option(None, "--store", help="The store holding the trace (default: the "
                                                           "config's storage.url)."),
    since: str | None = typer.Option(None, "--since", help="Only the last DURATION of the trace, e.g. 12h."),
    until: str | None = typer.Option(None, "--until", help="Up to DURATION ago, e.g. 1h."),
    export_to: Path | None = typer.Option(None, "--export", help="Write the selected trace to this file "
                                                                 "(JSON lines) instead of replaying it."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show suspicions that cleared."),
) -> None:
    """Replay what the daemon really saw (its recorded trace) through CONFIG: what would these
    thresholds have done? Prints the replay's timeline and a diff against what happened."""
    from trunkguard.durations import parse_duration
    from trunkguard.rules import sim_world
    from trunkguard.sim import replay as replay_trace
    from trunkguard.store import Store

    cfg = load_or_exit(config, as_json=as_json)
    now = time.time()
    try:
        window = [None if v is None else now - parse_duration(v) for v in (since, until)]
    except ValueError as exc:
        usage_error(f"--since/--until: {exc}")
    try:
        if trace is not None:
            recorded = replay_trace.from_file(trace)
        else:
            url = store or cfg.storage.url
            problem = store_driver_problem(url)
            if problem is not None:
                raise ConfigError([("--store" if store else "storage.url", problem)], "this installation")
            source = Store(url)
            try:
                recorded = replay_trace.from_store(source, window[0], window[1])
            finally:
                source.close()
        if export_to is not None:
            written = replay_trace.export(recorded, export_to)
            typer.echo(f"wrote {count(written, 'event')} and {count(len(recorded.decisions), 'decision')} "
                       f"to {export_to}")
            return
        outcome = replay_trace.replay(sim_world(cfg), recorded, verbose=verbose)
    except ConfigError as exc:
        config_error_exit(exc, as_json=as_json)
    except StoreError as exc:
        typer.echo(f"trunkguard: cannot read the trace: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    if as_json:
        emit_json(outcome.as_dict())
        return
    start = outcome.start
    for at, sentence in outcome.result.timeline:
        typer.echo(f"{iso(start + at)}  {sentence}")
    happened = ", ".join(f"{iso(start + s['at_s'])}" for s in outcome.happened_swaps) or "none"
    would = ", ".join(f"{iso(start + s['at_s'])} to the {s['to']}" for s in outcome.result.swaps) or "none"
    typer.echo(f"-- replayed {outcome.result.duration_s:g} s of recorded traffic ({outcome.result.probes_sent} "
               f"probes under this config)")
    typer.echo(f"swaps that happened: {happened}")
    typer.echo(f"swaps this config makes: {would}")
    if outcome.unrecorded:
        typer.echo(f"not in the trace (assumed up): {', '.join(outcome.unrecorded)}")
    lines = outcome.diff()
    typer.echo("decisions: the same as what happened" if not lines else "decisions, what happened vs this config:")
    for line in lines[2:]:
        typer.echo(f"  {line}")
