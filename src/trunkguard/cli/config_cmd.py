"""`trunkguard config check FILE [--env]`, `trunkguard config schema` and `trunkguard config reference`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from trunkguard.cli.common import (
    EXIT_USAGE,
    config_error_exit,
    emit_json,
    examples,
    load_or_exit,
    store_driver_problem,
)

if TYPE_CHECKING:
    from trunkguard.config import Config

app = typer.Typer(help="Validate a configuration file or print its JSON Schema.", no_args_is_help=True)


def file_warnings(config: Config) -> list[tuple[str, str]]:
    """(field path, rule) for each file the config names that is not there (not an error: it may exist
    where the daemon runs)."""
    warnings: list[tuple[str, str]] = []
    for role, carrier in config.carriers.items():
        for i, trunk in enumerate(carrier.trunks):
            if trunk.tls is not None:
                for name in ("ca_file", "cert_file", "key_file"):
                    path = getattr(trunk.tls, name)
                    if path is not None and not path.exists():
                        warnings.append((f"carriers.{role}.trunks[{i}].tls.{name}",
                                         f"{path} does not exist (trunk {trunk.name})"))
        if carrier.dids_file is not None and not carrier.dids_file.exists():
            warnings.append((f"carriers.{role}.dids_file", f"{carrier.dids_file} does not exist"))
    return warnings


def named_secrets(config: Config) -> list[tuple[str, str | None, Path | None]]:
    """(dotted path of its `*_env` key, variable, file) for every secret the config names: each `*_env`
    key that has a value, defaults included (api.token_env is TRUNKGUARD_API_TOKEN unless set to null or
    replaced by api.token_file), and each `*_file` key naming a secret."""
    from pydantic import BaseModel

    from trunkguard.config import Section, secret_names

    found: list[tuple[str, str | None, Path | None]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, BaseModel):
            secrets = secret_names(type(value)) if isinstance(value, Section) else ()
            for name in secrets:
                assert isinstance(value, Section)
                env, file = value.secret(name)
                if env is not None or file is not None:
                    found.append((f"{path}.{name}_env" if path else f"{name}_env", env, file))
            for name in type(value).model_fields:
                if name.removesuffix("_env").removesuffix("_file") not in secrets:
                    walk(getattr(value, name), f"{path}.{name}" if path else name)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")

    walk(config, "")
    return found


def check_environment(config: Config) -> list[tuple[str, str | None, Path | None]]:
    """Read every secret the config names, through the daemon's one reader (credentials.Secrets): each
    variable set, each file there, readable and not empty; raise its ConfigError naming each that is
    not (never a value). What was read: (path of the `*_env` key, variable, file)."""
    from trunkguard.credentials import Secrets

    named = named_secrets(config)
    secrets = Secrets(base_dir=config.source_dir)
    for field, variable, file in named:
        secrets.get(field, variable, file=file)
    secrets.check()
    return named


@app.command("check", epilog=examples(
    "trunkguard config check trunkguard.yaml",
    "trunkguard config check --strict --json trunkguard.yaml     # in CI",
    "trunkguard config check --env /etc/trunkguard/trunkguard.yaml     # systemd ExecStartPre"))
def check(file: Path = typer.Argument(..., help="The YAML configuration file."),
          as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
          strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors (exit 2): for CI."),
          env: bool = typer.Option(False, "--env", help="Also check that every secret the config names is "
                                                        "there: each *_env variable set in this environment, "
                                                        "each *_file readable and not empty (for systemd's "
                                                        "ExecStartPre).")) -> None:
    """Validate FILE: exit 0 if it is valid, 2 naming each bad field and the rule it breaks.
    Settings that are valid but likely to flap are warnings (errors with --strict)."""
    from trunkguard.config_advice import policy_warnings
    from trunkguard.core.quorum import quorum_need
    from trunkguard.credentials import secret_path
    from trunkguard.durations import format_duration
    from trunkguard.errors import ConfigError

    config = load_or_exit(file, as_json=as_json)
    warnings = policy_warnings(config) + file_warnings(config)
    driver = store_driver_problem(config.storage.url)
    if driver is not None:
        warnings.append(("storage.url", driver))
    secrets: list[tuple[str, str | None, Path | None]] = []
    if env:
        try:
            secrets = check_environment(config)
        except ConfigError as exc:
            config_error_exit(exc, as_json=as_json)
    failed = strict and bool(warnings)
    if as_json:
        found = [{"path": field, "rule": why} for field, why in warnings]
        emit_json({"ok": not failed, "problems": found if failed else [], "warnings": [] if failed else found,
                   "trunks": [{"carrier": role, "name": t.name, "uri": t.uri, "alive_codes": str(t.alive_codes)}
                              for role, _, t in config.all_trunks()],
                   **({"secrets": [{"path": field, "variable": v, "set": True} if file is None else
                                   {"path": field.removesuffix("_env") + "_file", "file": str(secret_path(
                                       file, os.environ, config.source_dir)), "readable": True}
                                   for field, v, file in secrets]} if env else {})})
        if failed:
            raise typer.Exit(EXIT_USAGE)
        return
    if failed:
        typer.echo(f"{file}: not accepted with --strict:", err=True)
        for field, why in warnings:
            typer.echo(f"  {field}: {why}", err=True)
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
    if env:
        names = ", ".join(sorted({v for _, v, file in secrets if file is None and v})) or "none named"
        typer.echo(f"  environment: every secret the config names is set ({names})")
        files = [str(secret_path(file, os.environ, config.source_dir)) for _, _, file in secrets if file]
        if files:
            typer.echo(f"  secret files: each is there and readable ({', '.join(files)})")
    for field, why in warnings:
        typer.echo(f"  warning: {field}: {why}")


@app.command("schema", epilog=examples(
    "trunkguard config schema > schema/trunkguard.schema.json"))
def schema() -> None:
    """Print the configuration's JSON Schema (for editors and CI linting)."""
    from trunkguard.config import json_schema

    emit_json(json_schema())


@app.command("reference", epilog=examples(
    "trunkguard config reference > docs/configuration.md"))
def reference() -> None:
    """Print the configuration reference (Markdown), generated from the schema."""
    from trunkguard.config_reference import render

    typer.echo(render(), nl=False)
