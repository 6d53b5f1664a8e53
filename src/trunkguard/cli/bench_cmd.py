"""`trunkguard bench options URI`: the transaction layer's own rate against a peer (UDP, TCP or TLS)."""

from __future__ import annotations

from pathlib import Path

import typer

from trunkguard.cli.common import EXIT_FAILED, emit_json, examples, tls_for, usage_error
from trunkguard.errors import ResolveError, SipUriError, TransportError

app = typer.Typer(help="Measure trunkguard's own speed against a SIP peer.", no_args_is_help=True)


@app.command("options", epilog=examples(
    "trunkguard bench options sip:127.0.0.1:5060 --concurrency 64 --duration 10s",
    "trunkguard bench options \"sip:sbc.lab.test:5061;transport=tls\" --ca-file lab-ca.pem --json"))
def options(
    uri: str = typer.Argument(..., help="The peer, e.g. sip:127.0.0.1:5060"),
    concurrency: int = typer.Option(64, "--concurrency", "-n", min=1, max=10_000,
                                    help="Transactions kept in flight."),
    duration: str = typer.Option("5s", "--duration", "-d", help="How long to measure."),
    warmup: str = typer.Option("1s", "--warmup", help="Load before measuring starts."),
    timeout: str = typer.Option("2s", "--timeout", help="Each transaction's deadline."),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="TLS: the CA bundle (default: system CAs)."),
    insecure: bool = typer.Option(False, "--insecure", help="TLS: do not verify the peer."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Keep N OPTIONS transactions in flight for a while; report the completed rate and RTT."""
    from trunkguard import aio
    from trunkguard.durations import parse_duration
    from trunkguard.loadgen import options_load
    from trunkguard.sip.uri import parse_uri

    try:
        target = parse_uri(uri)
        seconds, warm, deadline = (parse_duration(v) for v in (duration, warmup, timeout))
    except (SipUriError, ValueError) as exc:
        usage_error(str(exc))
    if seconds <= 0 or deadline <= 0:
        usage_error("--duration and --timeout must be more than 0")
    context = tls_for(target, ca_file=ca_file, insecure=insecure)
    try:
        report = aio.run(options_load(target, concurrency=concurrency, duration=seconds,
                                      timeout=deadline, warmup=warm, ssl_context=context))
    except ResolveError as exc:
        usage_error(str(exc))
    except TransportError as exc:
        typer.echo(f"trunkguard: cannot reach {target}: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    if as_json:
        emit_json(report.as_dict())
    else:
        typer.echo(f"{report.completed} OPTIONS transactions completed in {seconds:g}s: "
                   f"{report.rate_per_s:,.0f}/s, rtt p50 {report.rtt_p50_ms} ms p99 {report.rtt_p99_ms} ms, "
                   f"{report.timeouts} timeouts, {report.stray} stray replies dropped"
                   + (", stopped: the peer closed the connection" if report.closed_by_peer else ""))
    if report.completed == 0:
        raise typer.Exit(EXIT_FAILED)
