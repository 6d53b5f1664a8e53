"""Helpers shared by the commands: JSON output, clean usage errors, config loading."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from trunkguard.errors import ConfigError
from trunkguard.moments import iso_times

if TYPE_CHECKING:  # imported where used: `--version`, `--help` and `probe` start without them
    import ssl

    from trunkguard.config import Config
    from trunkguard.sip.uri import SipUri

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_STORED_VIEW = 3  # `status`: the daemon did not answer; what is shown is the store's record


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(iso_times(data), indent=2, default=str) + "\n")


def examples(*lines: str) -> str:
    """A command's `--help` epilog: one example command line a paragraph (typer keeps paragraphs apart)."""
    return "\n\n".join(["Examples:", *(f"  $ {line}" for line in lines)])


def usage_error(message: str) -> NoReturn:
    typer.echo(f"trunkguard: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def config_error_exit(exc: ConfigError, *, as_json: bool = False) -> NoReturn:
    """Report every problem of a bad file (as JSON on stdout, or text on stderr) and exit 2."""
    if as_json:
        emit_json({"ok": False, "problems": [{"path": p, "rule": r} for p, r in exc.problems]})
    else:
        typer.echo(str(exc), err=True)
    raise typer.Exit(EXIT_USAGE)


def tls_for(target: SipUri, *, ca_file: Path | None = None, cert_file: Path | None = None,
            key_file: Path | None = None, insecure: bool = False) -> ssl.SSLContext | None:
    """The client TLS context a command's options ask for, for a TLS target; None otherwise. A bad
    file or key is a usage error (exit 2)."""
    from trunkguard.errors import TlsError
    from trunkguard.sip.transport import client_tls_context
    from trunkguard.sip.uri import Transport

    if target.transport is not Transport.TLS:
        return None
    try:
        return client_tls_context(ca_file=ca_file, cert_file=cert_file, key_file=key_file, verify=not insecure)
    except TlsError as exc:
        usage_error(str(exc))


CONFIG_ENV = "TRUNKGUARD_CONFIG"
CONFIG_PLACES = (Path("trunkguard.yaml"), Path("/etc/trunkguard/trunkguard.yaml"))
CONFIG = typer.Option(None, "--config", "-c", envvar=CONFIG_ENV, show_envvar=True,
                      help="The YAML configuration file; default: ./trunkguard.yaml, then "
                           "/etc/trunkguard/trunkguard.yaml.")


NO_CONFIG = (f"no configuration: give --config FILE or set {CONFIG_ENV} (looked for "
             + " and ".join(str(p) for p in CONFIG_PLACES) + ")")


def locate_config(path: Path | None) -> Path | None:
    """`--config` (or $TRUNKGUARD_CONFIG), else the first of CONFIG_PLACES that exists; None: none."""
    if path is not None:
        return path
    return next((place for place in CONFIG_PLACES if place.is_file()), None)


def find_config(path: Path | None) -> Path:
    """`locate_config`, or a usage error (exit 2) naming where it looked."""
    found = locate_config(path)
    if found is None:
        usage_error(NO_CONFIG)
    return found


def load_or_exit(path: Path | None, *, as_json: bool = False) -> Config:
    from trunkguard.config import load_config

    try:
        return load_config(find_config(path))
    except ConfigError as exc:
        config_error_exit(exc, as_json=as_json)


def store_driver_problem(url: str) -> str | None:
    """Why this install cannot open the store at `url`: PostgreSQL needs psycopg, which comes with the
    `postgres` extra (a SQLite store needs nothing more). None when it can."""
    import importlib.util

    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")) \
            and importlib.util.find_spec("psycopg") is None:
        return "is a PostgreSQL store, and this install has no PostgreSQL driver (psycopg): " \
               "pip install 'trunkguard[postgres]'"
    return None


def check_store_driver(cfg: Config) -> None:
    """ConfigError naming the `postgres` extra when the config's store needs a driver this install lacks."""
    problem = store_driver_problem(cfg.storage.url)
    if problem is not None:
        raise ConfigError([("storage.url", problem)], "this installation")


def require_store_driver(cfg: Config, *, as_json: bool = False) -> None:
    """Exit 2 naming the `postgres` extra when the config's store needs a driver this install lacks."""
    try:
        check_store_driver(cfg)
    except ConfigError as exc:
        config_error_exit(exc, as_json=as_json)


def store_kind(url: str) -> str:
    """`sqlite` or `postgresql`: what a store URL names, for a log line (never the URL: it may hold a password)."""
    return "sqlite" if url.startswith("sqlite") else "postgresql"

