"""`trunkguard probe URI`: SIP OPTIONS pings in the habit of sipsak."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from trunkguard.cli.common import EXIT_FAILED, emit_json, tls_for, usage_error

if TYPE_CHECKING:
    import dns.asyncresolver

    from trunkguard.probing.result import ProbeResult
    from trunkguard.probing.sip_options import OptionsCheck


def probe(
    uri: str = typer.Argument(..., help="sip:host[:port][;transport=udp|tcp|tls] or sips:host"),
    count: int = typer.Option(1, "--count", "-c", min=1, max=1_000_000, help="How many probes."),
    interval: str = typer.Option("1s", "--interval", "-i", help="Time between probes."),
    timeout: str = typer.Option("2s", "--timeout", "-t", help="Each probe's deadline."),
    alive_codes: str = typer.Option("200-299", "--alive-codes", help="Final codes that mean alive."),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="CA bundle for TLS (default: system CAs)."),
    cert_file: Path | None = typer.Option(None, "--cert-file", help="Client certificate for mutual TLS."),
    key_file: Path | None = typer.Option(None, "--key-file", help="Key of the client certificate."),
    insecure: bool = typer.Option(False, "--insecure", help="Do not verify the TLS peer."),
    targets: Literal["any", "all"] = typer.Option("any", "--targets", help="When the name resolves to several "
                                                  "addresses, each is probed: ok when any answers, or all of them."),
    nameserver: list[str] = typer.Option([], "--nameserver", help="A DNS server (address[:port]) to ask "
                                         "instead of the system's; repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Send SIP OPTIONS to URI. Exit 0 when every probe is ok, 1 when any is not."""
    from trunkguard import aio
    from trunkguard.codes import parse_codes
    from trunkguard.durations import parse_duration
    from trunkguard.errors import SipUriError
    from trunkguard.probing.sip_options import OptionsCheck
    from trunkguard.sip.resolve import make_resolver
    from trunkguard.sip.uri import parse_uri

    try:
        target = parse_uri(uri)
        codes = parse_codes(alive_codes)
        every = parse_duration(interval)
        deadline = parse_duration(timeout)
    except (SipUriError, ValueError) as exc:
        usage_error(str(exc))
    if deadline <= 0:
        usage_error("--timeout must be more than 0")
    if targets not in ("any", "all"):
        usage_error(f"--targets must be any or all, not {targets!r}")
    servers = _nameservers(nameserver) if nameserver else []
    context = tls_for(target, ca_file=ca_file, cert_file=cert_file, key_file=key_file, insecure=insecure)
    check = OptionsCheck("cli", target, codes, deadline, context, "all" if targets == "all" else "any")
    resolver = make_resolver(servers) if servers else None
    results = aio.run(_run(check, count, every, as_json, resolver))
    passed = sum(r.success for r in results)
    if as_json:  # `ok` is the verdict (a boolean, as in every --json output); the count is `passed`
        emit_json({"target": str(target), "ok": passed == len(results), "sent": len(results), "passed": passed,
                   "results": [_json_row(i + 1, r) for i, r in enumerate(results)]})
    else:
        rtts = [r.rtt_ms for r in results if r.rtt_ms is not None]
        line = f"--- {target}: {len(results)} sent, {passed} ok"
        if rtts:
            line += f", rtt min/avg/max {min(rtts):.3f}/{sum(rtts) / len(rtts):.3f}/{max(rtts):.3f} ms"
        typer.echo(line)
    if passed != len(results):
        raise typer.Exit(EXIT_FAILED)


def _nameservers(given: list[str]) -> list[tuple[str, int]]:
    """The --nameserver values checked by the config's own rule (dns.nameservers); a bad one is a usage error."""
    from pydantic import ValidationError

    from trunkguard.config import DnsSettings, describe_errors

    try:
        return list(DnsSettings(nameservers=given).nameservers)
    except ValidationError as exc:
        usage_error(f"--nameserver: {describe_errors(exc)[0][1]}")


async def _run(check: OptionsCheck, count: int, interval: float, quiet: bool,
               resolver: dns.asyncresolver.Resolver | None) -> list[ProbeResult]:
    import asyncio

    from trunkguard.probing.sip_options import probe_options
    from trunkguard.sip.client import SipClient

    results: list[ProbeResult] = []
    async with SipClient() as client:
        for seq in range(1, count + 1):
            result = await probe_options(client, check, resolver=resolver)
            results.append(result)
            if not quiet:
                typer.echo(f"seq={seq} {check.uri}: {result.summary()}")
                for t in result.targets:
                    typer.echo(f"    {t.target}: {t.summary()}")
            if seq < count:
                await asyncio.sleep(interval)
    return results


def _json_row(seq: int, r: ProbeResult) -> dict[str, object]:
    from trunkguard.probing.result import ProbeStatus

    status = r.status.value if r.status is not ProbeStatus.NO_MEDIA else "error"
    row: dict[str, object] = {"seq": seq, "status": status, "code": r.code, "reason": r.reason, "rtt_ms": r.rtt_ms}
    if r.targets:
        row["targets"] = [{"target": t.target, "status": t.status.value, "code": t.code, "reason": t.reason,
                           "rtt_ms": t.rtt_ms} for t in r.targets]
    return row
