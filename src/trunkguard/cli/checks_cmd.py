"""The readiness checks as commands: `media`, `sweep`, `certs`, `parity`.

`sweep`, `certs` and `parity` save their outcome (see trunkguard.state) for the daemon's
readiness gates. Exit 0 when the check passes, 1 when it does not, 2 for bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from trunkguard.cli.common import (
    CONFIG,
    EXIT_FAILED,
    config_error_exit,
    emit_json,
    load_or_exit,
    require_store_driver,
    tls_for,
    usage_error,
)
from trunkguard.core.wording import count
from trunkguard.errors import ConfigError, SipUriError, StoreError

if TYPE_CHECKING:  # the probes, the store and the platform are imported by the commands that use them
    from trunkguard.actuation.base import Platform
    from trunkguard.config import Config, TrunkConfig
    from trunkguard.probing.did_sweep import SweepResult
    from trunkguard.probing.expect import AnswerExpectation
    from trunkguard.probing.sip_invite import CallPlan, CallResult
    from trunkguard.probing.tls_cert import CertReport
    from trunkguard.readiness import AnswersParity, CheckResult
    from trunkguard.sip.sdp import AnswerSummary


def media(
    uri: str = typer.Argument(..., help="The trunk, e.g. sip:sbc.carrier.example:5060"),
    number: str | None = typer.Option(None, "--number", help="User part to call (a carrier test or echo number)."),
    duration: str = typer.Option("2s", "--duration", help="How long to send RTP."),
    rtp_timeout: str = typer.Option("4s", "--rtp-timeout", help="No RTP back within this is no_media."),
    answer_timeout: str = typer.Option("8s", "--answer-timeout", help="Wait this long for an answer, then CANCEL."),
    codecs: str = typer.Option("PCMU,PCMA", "--codecs", help="Offer order, e.g. PCMU,G729,PCMA."),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="CA bundle for TLS."),
    insecure: bool = typer.Option(False, "--insecure", help="Do not verify the TLS peer."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Place a test call to URI, check RTP flows both ways, hang up. Exit 0 only when ok."""
    from trunkguard import aio
    from trunkguard.durations import parse_duration
    from trunkguard.probing.sip_invite import CallPlan
    from trunkguard.sip.uri import parse_uri

    try:
        target = parse_uri(uri)
        seconds, timeout, answer = (parse_duration(v) for v in (duration, rtp_timeout, answer_timeout))
    except (SipUriError, ValueError) as exc:
        usage_error(str(exc))
    if min(seconds, timeout, answer) <= 0:
        usage_error("--duration, --rtp-timeout and --answer-timeout must be more than 0")
    context = tls_for(target, ca_file=ca_file, insecure=insecure)
    plan = CallPlan(target, number=number, codecs=tuple(c.strip().upper() for c in codecs.split(",") if c.strip()),
                    answer_timeout=answer, duration=seconds, rtp_timeout=timeout, ssl_context=context)
    result = aio.run(_one_call(plan))
    if as_json:
        emit_json(result.as_dict(str(target)))
    else:
        line = f"{target}: {result.status}" + (f" {result.code} {result.reason}" if result.code else
                                               f" ({result.reason})" if result.reason else "")
        if result.pdd_ms is not None:
            line += f", post-dial delay {result.pdd_ms} ms"
        typer.echo(line)
        if result.rtp is not None:
            r = result.rtp
            foreign = f" ({r.came_back - r.received} more that were not ours)" if r.came_back > r.received else ""
            typer.echo(f"  RTP {result.codec}: sent {r.sent}, received {r.received}{foreign}, loss {r.loss_pct}%, "
                       f"jitter {r.jitter_ms} ms, rtt {r.rtt_ms} ms")
        if result.answer is not None:
            typer.echo(f"  answer: {_answer_text(result.answer)}")
    if result.status != "ok":
        raise typer.Exit(EXIT_FAILED)


def _answer_text(a: AnswerSummary) -> str:
    dtmf = f"telephone-event {a.telephone_event} ({a.events or '0-15'})" if a.telephone_event is not None else \
        "no telephone-event"
    return (f"{', '.join(a.codecs) or 'no codec'}; {dtmf}; ptime {a.ptime or '-'}; "
            f"{'crypto ' + ', '.join(a.crypto) if a.crypto else 'no crypto'}; {a.direction} from {a.address}")


async def _one_call(plan: CallPlan) -> CallResult:
    from trunkguard.probing.sip_invite import place_call
    from trunkguard.sip.client import SipClient

    async with SipClient() as client:
        return await place_call(client, plan)


def sweep_cmd(
    config: Path | None = CONFIG,
    carrier: str | None = typer.Option(None, "--carrier", help="Whose DIDs to call: a carrier's name (default: the "
                                                               "second of the chain, the pair's secondary)."),
    cps: float | None = typer.Option(None, "--cps", help="Calls started per second (default: the config's)."),
    concurrency: int | None = typer.Option(None, "--concurrency", help="Calls in flight at most."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    csv_file: Path | None = typer.Option(None, "--csv", help="Also write one row per DID to this CSV file."),
) -> None:
    """Call every DID of a carrier through its first trunk (a TLS trunk with its `tls` settings); every one
    must answer 200."""
    from trunkguard import aio
    from trunkguard.config_checks import sweep_dids, sweep_expectation
    from trunkguard.readiness import sweep_result

    cfg = load_or_exit(config, as_json=as_json)
    require_store_driver(cfg, as_json=as_json)
    carrier = carrier or cfg.carriers.chain[1]
    if carrier not in cfg.carriers.chain:
        usage_error(f"--carrier must be one of the config's carriers ({', '.join(cfg.carriers.chain)}), "
                    f"not {carrier!r}")
    chosen = cfg.carriers[carrier]
    try:
        dids = sweep_dids(cfg, carrier)
    except ConfigError as exc:
        config_error_exit(exc, as_json=as_json)
    rate = cps if cps is not None else chosen.sweep.cps
    room = concurrency if concurrency is not None else chosen.sweep.concurrency
    if rate <= 0 or room < 1:
        usage_error("--cps must be more than 0 and --concurrency at least 1")
    trunk = chosen.trunks[0]
    show = not as_json and sys.stdout.isatty()
    expect = sweep_expectation(chosen)
    result = aio.run(_sweep(carrier, trunk, dids, rate, room, chosen.sweep.timeout, show, expect,
                            chosen.sweep.caller))
    _store(cfg, sweep_result(result))
    if csv_file is not None:
        import csv

        failed = {str(f["did"]): f for f in result.failed}
        with csv_file.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["did", "ok", "code", "reason"])
            for did, code in zip(dids, result.codes, strict=True):
                row = failed.get(did)
                writer.writerow([did, row is None, "" if code is None else code,
                                 "" if row is None else row["reason"]])
    if as_json:  # `ok` is the verdict (a boolean, as in every --json output); the count is `answered`
        found = result.as_dict()
        emit_json({"ok": result.passed, **{k: v for k, v in found.items() if k != "ok"}, "answered": found["ok"]})
    else:
        by = " by the contact center" if expect is not None else ""
        typer.echo(f"{carrier} carrier: {result.ok}/{result.total} DIDs answered 200{by} in {result.duration_s:.1f}s "
                   f"({rate:g} calls/s, {room} at most in flight)")
        for f in result.failed:
            shown = "" if f["code"] == 200 or f["code"] is None else f"{f['code']} "  # a 200's reason says so
            typer.echo(f"  FAILED {f['did']}: {shown}{f['reason']}")
    if not result.passed:
        raise typer.Exit(EXIT_FAILED)


async def _sweep(role: str, trunk: TrunkConfig, dids: list[str], cps: float, concurrency: int, timeout: float,
                 show: bool, expect: AnswerExpectation | None, caller: str | None) -> SweepResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from trunkguard.probing.did_sweep import sweep_trunk
    from trunkguard.rules import tls_files
    from trunkguard.sip.client import SipClient

    columns = (TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not show, transient=True) as progress:
        task = progress.add_task("sweep", total=len(dids))
        async with SipClient() as client:
            return await sweep_trunk(client, role, trunk.name, trunk.sip_uri, tls_files(trunk), dids, cps=cps,
                                     concurrency=concurrency,
                                     answer_timeout=timeout, expect=expect, caller=caller,
                                     on_progress=lambda done, _r: progress.update(task, completed=done))


def certs(
    config: Path | None = CONFIG,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Read every TLS trunk's certificate, and hold its public key against the trunk's pins
    (tls.pin_sha256). Exit 1 if any is within the warning window or fails (a pin only under enforce)."""
    from trunkguard import aio
    from trunkguard.probing.tls_cert import inspect_trunks
    from trunkguard.readiness import certs_result
    from trunkguard.rules import tls_trunks

    cfg = load_or_exit(config, as_json=as_json)
    require_store_driver(cfg, as_json=as_json)
    reports = aio.run(inspect_trunks(tls_trunks(cfg)))
    warn = cfg.tls.warn_days
    _store(cfg, certs_result(reports, warn))
    ok = all(r.healthy(warn) for r in reports)
    if as_json:
        emit_json({"ok": ok, "certs": [r.as_dict() for r in reports]})
    else:
        if not reports:
            typer.echo("no TLS trunks in this configuration")
        for r in reports:
            state = "ok" if r.healthy(warn) else "WARNING"
            detail = r.error or (f"expires {r.not_after} ({r.days_left} days)" +
                                 ("" if r.hostname_ok else ", name does not match"))
            typer.echo(f"{state:<8} {r.trunk}: {r.subject or '?'}: {detail}{_pin_note(r)}")
    if not ok:
        raise typer.Exit(EXIT_FAILED)


def _pin_note(report: CertReport) -> str:
    """The pin result on a `certs` line: nothing without pins."""
    if report.pin == "match":
        return "; pin: matches"
    if report.pin == "mismatch" and report.pin_mode == "enforce":
        return "; pin: MISMATCH (enforced: probes fail)"  # the error gives the key
    if report.pin == "mismatch":
        return f"; pin: MISMATCH (report only: probes go on), public key SHA-256 {report.spki_sha256}"
    return ""


def parity(
    config: Path | None = CONFIG,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    live: bool = typer.Option(False, "--live", help="Read each carrier's trunk settings from the platform "
                                                    "(Genesys Cloud's trunk bases) and compare those."),
) -> None:
    """Compare the carriers' profiles (codec order, DTMF, SRTP/TLS, NAT, early media, ptime), and the SDP
    answers their newest stored sweeps got (these count only when both carriers have some). With --live,
    what the platform really has instead of the profiles, held against them where they are declared."""
    from trunkguard.config_checks import differences
    from trunkguard.readiness import parity_result

    cfg = load_or_exit(config, as_json=as_json)
    require_store_driver(cfg, as_json=as_json)
    if live:
        _parity_live(cfg, as_json)
        return
    try:
        found = differences(cfg)
    except ConfigError as exc:
        config_error_exit(exc, as_json=as_json)
    answers = _stored_answers(cfg)
    _store(cfg, parity_result(found, answers))
    failed = bool(found) or bool(answers.differences)
    if as_json:
        emit_json({"ok": not failed, "differences": found, "answers": answers.as_dict()})
    else:
        if not found:
            typer.echo("the carriers' profiles match")
        for d in found:
            typer.echo(f"{d['field']}: primary {d['primary']!r}, secondary {d['secondary']!r}")
        _echo_answers(answers)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _parity_live(cfg: Config, as_json: bool) -> None:
    """`parity --live`: the platform's trunk settings compared, with the stored SDP answers, and stored
    as the parity result."""
    from trunkguard import aio
    from trunkguard.app import platform_from_config
    from trunkguard.config_advice import reads_live

    if not reads_live(cfg):
        kind = cfg.platform.kind if cfg.platform is not None else "(none)"
        usage_error(f"--live reads each carrier's trunk settings from the platform, and platform kind {kind} "
                    "keeps none (genesys does)")
    try:
        platform = platform_from_config(cfg)
    except ConfigError as exc:
        config_error_exit(exc, as_json=as_json)
    answers = _stored_answers(cfg)
    result = aio.run(_read_live_parity(cfg, platform, answers))
    _store(cfg, result)
    found, error = result.result["differences"], result.result.get("error")
    if as_json:
        emit_json({"ok": result.ok, "source": "platform", "differences": found,
                   **({"error": error} if error else {"answers": answers.as_dict()})})
    elif error:
        typer.echo(f"parity: {error}")
    else:
        typer.echo("parity: the carriers' trunk bases match (read from the platform)" if not found else
                   f"parity: {count(len(found), 'difference')} (read from the platform)")
        for d in found:
            typer.echo(f"  {d['sentence']}")
        _echo_answers(answers)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


def _echo_answers(answers: AnswersParity) -> None:
    """The stored SDP answers' comparison, a line each, after either parity's own lines."""
    if not answers.compared:
        typer.echo(f"from the carriers' answers: not compared: {answers.note}")
    elif not answers.differences:
        typer.echo("from the carriers' answers: the SDP answers match")
    for line in answers.differences:
        typer.echo(f"from the carriers' answers: {line}")


async def _read_live_parity(cfg: Config, platform: Platform, answers: AnswersParity) -> CheckResult:
    from trunkguard.config_checks import check_parity_live

    try:
        return await check_parity_live(cfg, platform, answers)
    finally:
        await platform.close()


def _stored_answers(cfg: Config) -> AnswersParity:
    """The carriers' SDP answers compared, read from the store without creating it."""
    from trunkguard.readiness import AnswersParity, answers_parity
    from trunkguard.store import Store

    try:
        store = Store(cfg.storage.url)
    except StoreError as exc:
        return AnswersParity(False, note=f"no stored sweeps to read ({exc})")
    try:
        return answers_parity(store)
    except StoreError as exc:
        return AnswersParity(False, note=f"the stored sweeps could not be read ({exc})")
    finally:
        store.close()


def _store(cfg: Config, result: CheckResult) -> None:
    """Keep the result where every replica's readiness gates read it: the config's store."""
    from trunkguard.config_checks import store_result

    try:
        store_result(cfg, result)
    except StoreError as exc:
        typer.echo(f"trunkguard: the {result.check} result could not be stored at storage.url ({exc}); the "
                   "daemon's gate will not see it", err=True)
        raise typer.Exit(EXIT_FAILED) from None
