"""`trunkguard config check FILE` and `trunkguard config schema`."""

from __future__ import annotations

from pathlib import Path

import typer

from trunkguard.advice import policy_warnings
from trunkguard.cli.common import EXIT_USAGE, emit_json, load_or_exit
from trunkguard.config import Config, json_schema
from trunkguard.core.vantage import quorum_need
from trunkguard.durations import format_duration

app = typer.Typer(help="Validate a configuration file or print its JSON Schema.", no_args_is_help=True)


def file_warnings(config: Config) -> list[str]:
    """Files the config names that are not there (not an error: they may exist where it runs)."""
    warnings: list[str] = []
    for role, carrier, trunk in config.all_trunks():
        if trunk.tls is not None:
            for name in ("ca_file", "cert_file", "key_file"):
                path = getattr(trunk.tls, name)
                if path is not None and not path.exists():
                    warnings.append(f"carriers.{role} trunk {trunk.name}: tls.{name} {path} does not exist")
        if carrier.dids_file is not None and not carrier.dids_file.exists():
            warnings.append(f"carriers.{role}.dids_file {carrier.dids_file} does not exist")
    return warnings


@app.command("check")
def check(file: Path = typer.Argument(..., help="The YAML configuration file."),
          as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
          strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors (exit 2): for CI.")) -> None:
    """Validate FILE: exit 0 if it is valid, 2 naming each bad field and the rule it breaks.
    Settings that are valid but likely to flap are warnings (errors with --strict)."""
    config = load_or_exit(file, as_json=as_json)
    advice = policy_warnings(config)
    warnings = file_warnings(config) + [f"{field}: {why}" for field, why in advice]
    failed = strict and bool(warnings)
    if as_json:
        problems = [{"path": field, "rule": why} for field, why in advice] + \
            [{"path": "(files)", "rule": w} for w in file_warnings(config)]
        emit_json({"ok": not failed, "problems": problems if failed else [], "warnings": [] if failed else warnings,
                   "trunks": [{"carrier": role, "name": t.name, "uri": t.uri, "alive_codes": str(t.alive_codes)}
                              for role, _, t in config.all_trunks()]})
        if failed:
            raise typer.Exit(EXIT_USAGE)
        return
    if failed:
        typer.echo(f"{file}: not accepted with --strict:", err=True)
        for warning in warnings:
            typer.echo(f"  {warning}", err=True)
        raise typer.Exit(EXIT_USAGE)
    typer.echo(f"{file}: valid")
    for role, carrier, trunk in config.all_trunks():
        h = carrier.health_of(trunk)
        typer.echo(f"  {role:<9} {trunk.name:<16} {trunk.uri}  every {format_duration(h.interval)}, "
                   f"timeout {format_duration(h.timeout)}, down after {h.down_after}, up after {h.up_after}")
    v = config.vantages
    if v.names or v.edge:
        names = ", ".join([*v.names, *(["edge"] if v.edge else [])])
        need = quorum_need(config.policy.quorum, len(v.names) + v.edge)
        typer.echo(f"  vantages: {names}; the primary is down when {need} of {len(v.names) + v.edge} agree")
    typer.echo(f"  lease: {format_duration(config.replica.lease_ttl)}, renewed every "
               f"{format_duration(round(config.replica.lease_ttl / 3, 3))}")
    for warning in warnings:
        typer.echo(f"  warning: {warning}")


@app.command("schema")
def schema() -> None:
    """Print the configuration's JSON Schema (for editors and CI linting)."""
    emit_json(json_schema())


@app.command("reference")
def reference() -> None:
    """Print the configuration reference (Markdown), generated from the schema."""
    from trunkguard.config_reference import render

    typer.echo(render(), nl=False)
