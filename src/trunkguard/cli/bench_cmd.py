"""`trunkguard bench options URI`: the transaction layer's own rate against a peer."""

from __future__ import annotations

import typer

from trunkguard import aio
from trunkguard.cli.common import EXIT_FAILED, emit_json, usage_error
from trunkguard.durations import parse_duration
from trunkguard.errors import ResolveError, SipUriError
from trunkguard.loadgen import options_load
from trunkguard.sip.uri import Transport, parse_uri

app = typer.Typer(help="Measure trunkguard's own speed against a SIP peer.", no_args_is_help=True)


@app.command("options")
def options(
    uri: str = typer.Argument(..., help="The peer, e.g. sip:127.0.0.1:5060"),
    concurrency: int = typer.Option(64, "--concurrency", "-n", min=1, max=10_000,
                                    help="Transactions kept in flight."),
    duration: str = typer.Option("5s", "--duration", "-d", help="How long to measure."),
    warmup: str = typer.Option("1s", "--warmup", help="Load before measuring starts."),
    timeout: str = typer.Option("2s", "--timeout", help="Each transaction's deadline."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Keep N OPTIONS transactions in flight for a while; report the completed rate and RTT."""
    try:
        target = parse_uri(uri)
        seconds, warm, deadline = (parse_duration(v) for v in (duration, warmup, timeout))
    except (SipUriError, ValueError) as exc:
        usage_error(str(exc))
    if target.transport is not Transport.UDP:
        usage_error("bench options measures the UDP transaction layer; use a transport=udp URI")
    if seconds <= 0 or deadline <= 0:
        usage_error("--duration and --timeout must be more than 0")
    try:
        report = aio.run(options_load(target, concurrency=concurrency, duration=seconds,
                                      timeout=deadline, warmup=warm))
    except ResolveError as exc:
        usage_error(str(exc))
    if as_json:
        emit_json(report.as_dict())
    else:
        typer.echo(f"{report.completed} OPTIONS transactions completed in {seconds:g}s: "
                   f"{report.rate_per_s:,.0f}/s, rtt p50 {report.rtt_p50_ms} ms p99 {report.rtt_p99_ms} ms, "
                   f"{report.timeouts} timeouts, {report.stray} stray replies dropped")
    if report.completed == 0:
        raise typer.Exit(EXIT_FAILED)
