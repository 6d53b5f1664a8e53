"""`trunkguard flows lint FILE...` and `trunkguard flows tone OUT.wav`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from trunkguard.cli.common import (
    CONFIG_ENV,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    emit_json,
    examples,
    load_or_exit,
    usage_error,
)
from trunkguard.flows.tone import SECONDS, TONE_HZ, tone_wav

if TYPE_CHECKING:
    from trunkguard.flows.document import FlowDocument
    from trunkguard.flows.lint import Finding

# The rules' names for --help, without importing the linter (and the config with it) to start: a test
# holds this to trunkguard.flows.lint.RULES.
RULE_NAMES = ("hardcoded-trunk", "trunk-variable", "sip-header", "dtmf-method", "no-failover-branch",
              "lookup-no-failure-path")

app = typer.Typer(help="Check contact-center flows for what breaks when the carrier changes.", no_args_is_help=True)


@app.command("lint", epilog=examples(
    "trunkguard flows lint flows/*.yaml --config trunkguard.yaml",
    "trunkguard flows lint Main.i3InboundFlow --ignore dtmf-method --json"))
def lint_cmd(
    files: list[Path] = typer.Argument(..., help="Archy YAML flows, or Architect exports (JSON, or the "
                                                 "base64 .i3* files Architect's Export writes)."),
    config: Path | None = typer.Option(None, "--config", "-c", envvar=CONFIG_ENV, show_envvar=True,
                                       help="trunkguard's config: its trunk names, trunk base ids, trunk "
                                            "hosts and datatable_id are checked too (optional)."),
    trunk: list[str] = typer.Option([], "--trunk", help="Another trunk or carrier name the flows must not "
                                                        "name (repeatable)."),
    table: list[str] = typer.Option([], "--table", help="The name (or id) of trunkguard's data table, when "
                                                        "a lookup does not read an activeCarrier column "
                                                        "(repeatable)."),
    ignore: list[str] = typer.Option([], "--ignore", help="A rule not to check (repeatable): "
                                                          + ", ".join(RULE_NAMES) + "."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Name, with the path inside the file, what in each flow breaks when the carrier changes:
    hard-coded trunks, trunk variables, SIP headers, DTMF methods, no failover branch, and a lookup
    of trunkguard's table without a failure path. Exit 0 clean, 1 findings, 2 a file it cannot read."""
    from trunkguard.flows.document import FlowUnreadable, read_flow
    from trunkguard.flows.lint import RULES, LintContext, lint

    unknown = [rule for rule in ignore if rule not in RULES]
    if unknown:
        usage_error(f"--ignore {', '.join(unknown)}: no such rule; the rules are {', '.join(RULES)}")
    from trunkguard.rules import lint_words

    words, tables = lint_words(load_or_exit(config, as_json=as_json)) if config is not None else ([], [])
    ctx = LintContext.build(words=words, trunks=trunk, tables=[*table, *tables], ignore=ignore)
    results: list[dict[str, object]] = []
    unreadable = found = 0
    for file in files:
        try:
            doc = read_flow(file)
            findings = lint(doc, ctx)
        except FlowUnreadable as exc:
            unreadable += 1
            results.append({"file": str(file), "error": {"line": exc.line, "column": exc.column,
                                                         "reason": exc.reason}, "findings": []})
            if not as_json:
                where = f":{exc.line}:{exc.column}" if exc.line is not None else ""
                typer.echo(f"{file}{where}: {exc.reason}", err=True)
            continue
        found += len(findings)
        results.append(_file_result(file, doc, findings))
        if not as_json:
            _print_findings(file, doc, findings)
    code = EXIT_USAGE if unreadable else EXIT_FAILED if found else EXIT_OK
    if as_json:
        emit_json({"ok": code == EXIT_OK, "findings": found, "unreadable": unreadable, "files": results})
    else:
        typer.echo(f"-- {len(files)} file{'s' * (len(files) != 1)}: {found} finding{'s' * (found != 1)}"
                   + (f", {unreadable} unreadable" if unreadable else ""))
    raise typer.Exit(code)


def _file_result(file: Path, doc: FlowDocument, findings: list[Finding]) -> dict[str, object]:
    return {"file": str(file), "format": doc.kind, "flow_type": doc.flow_type, "decoded": doc.decoded,
            "error": None, "findings": [f.as_dict() for f in findings]}


def _print_findings(file: Path, doc: FlowDocument, findings: list[Finding]) -> None:
    name = f"{file} (decoded export)" if doc.decoded else str(file)
    if not findings:
        typer.echo(f"{name}: clean ({doc.flow_type})")
    for f in findings:
        where = f":{f.line}:{f.column}" if f.line is not None else ""
        typer.echo(f"{name}{where}: {f.rule}: {f.message}\n    at {f.path}")


@app.command("tone", epilog=examples("trunkguard flows tone tone.wav --hz 1004"))
def tone(out: Path = typer.Argument(..., help="The WAV file to write."),
         hz: float = typer.Option(TONE_HZ, "--hz", help="The tone's frequency (the sweep's expected tone)."),
         seconds: float = typer.Option(SECONDS, "--seconds", help="How long it plays.")) -> None:
    """Write the DID-sweep tone as a WAV (8 kHz, 16-bit mono PCM) for a Genesys user prompt; the
    shipped deploy/genesys/terraform/audio file is this command's output with the defaults."""
    try:
        data = tone_wav(hz, seconds)
    except ValueError as exc:
        usage_error(str(exc))
    try:
        out.write_bytes(data)
    except OSError as exc:
        usage_error(f"cannot write {out}: {exc.strerror or exc}")
    typer.echo(f"{out}: {hz:g} Hz for {seconds:g} s ({len(data):,} bytes)")
