"""`trunkguard simulate`: replay a scenario through the real scheduler and decision core."""

from __future__ import annotations

from pathlib import Path

import typer

from trunkguard.cli.common import config_error_exit, emit_json, load_or_exit
from trunkguard.errors import ConfigError
from trunkguard.sim.runner import simulate as run_simulation
from trunkguard.sim.scenario import load_scenario


def simulate(
    config: Path = typer.Option(..., "--config", "-c", help="The trunkguard configuration."),
    scenario: Path = typer.Option(..., "--scenario", "-s", help="The scenario YAML."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (overrides the scenario's)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also show suspicions that cleared."),
) -> None:
    """Replay SCENARIO on a virtual clock: probes, decisions, swaps and notifications."""
    cfg = load_or_exit(config, as_json=as_json)
    try:
        plan = load_scenario(scenario)
        plan.check_trunks(cfg, str(scenario))
    except ConfigError as exc:
        config_error_exit(exc, as_json=as_json)
    result = run_simulation(cfg, plan, seed, record_timeline=not as_json, verbose=verbose)
    if as_json:
        emit_json(result.as_dict())
        return
    for at, sentence in result.timeline:
        typer.echo(f"{_clock(at)}  {sentence}")
    speed = result.duration_s / result.wall_s if result.wall_s else float("inf")
    typer.echo(f"-- {result.duration_s:g} s simulated in {result.wall_s:.2f} s ({speed:,.0f}x real time), seed "
               f"{result.seed}: {result.probes_sent} probes, {len(result.swaps)} swaps, "
               f"{len(result.notifications)} notifications, {result.cleared_suspicions} suspicions cleared "
               f"(--verbose shows them); final: {result.final_active} carrier")


def _clock(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"
