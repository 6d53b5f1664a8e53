"""Helpers shared by the commands: JSON output, clean usage errors, config loading."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

from trunkguard.config import Config, load_config
from trunkguard.errors import ConfigError, TlsError
from trunkguard.sip.transport import client_tls_context
from trunkguard.sip.uri import SipUri, Transport

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


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
    if target.transport is not Transport.TLS:
        return None
    try:
        return client_tls_context(ca_file=ca_file, cert_file=cert_file, key_file=key_file, verify=not insecure)
    except TlsError as exc:
        usage_error(str(exc))


def load_or_exit(path: Path, *, as_json: bool = False) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        config_error_exit(exc, as_json=as_json)


def iso(at: float) -> str:
    """An epoch time as ISO 8601 in UTC, for output a person or a script reads."""
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
