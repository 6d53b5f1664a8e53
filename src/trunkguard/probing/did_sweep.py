"""The DID sweep (the guide's SNA pre-warm check): a test call to every DID through a carrier's
trunk, Request-URI `sip:<DID>@<trunk host:port>`. A DID passes on a final 200 (then ACK and BYE),
and, when the sweep has an expectation (`AnswerExpectation`: a tone, or patterns for the SDP
address, Contact and Server), only if the answer proves it came from the contact center. The calls
present `caller` as their calling number (the From user part), which the contact center's flow
matches to play its tone.

The result keeps every DID's outcome and reason and the SDP answers heard (each distinct answer
once, with the DIDs that gave it), for the readiness store and for parity between carriers.

Calls start on an exact schedule, call i at t0 + i / cps, because carriers cap calls per second;
at most `concurrency` are in flight, and a call waiting for room starts late rather than early, so
the rate never exceeds `cps`.

A TLS trunk is called with its own `tls` settings (ca_file, cert_file, key_file, verify): `sweep_trunk`
builds the client context once, with the helper the OPTIONS and media probes use, so every call of
the sweep shares it (and one connection).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trunkguard.errors import ConfigError, ResolveError, TlsError
from trunkguard.probing.expect import AnswerExpectation, unproven
from trunkguard.probing.sip_invite import CallPlan, CallResult, place_call
from trunkguard.probing.sip_options import tls_context
from trunkguard.probing.tls_files import TlsFiles
from trunkguard.sip.client import SipClient
from trunkguard.sip.resolve import resolve
from trunkguard.sip.uri import SipUri


@dataclass(frozen=True)
class SweepResult:
    carrier: str
    total: int
    ok: int
    failed: list[dict[str, object]] = field(default_factory=list)
    duration_s: float = 0.0
    started_at: float = 0.0
    codes: tuple[int | None, ...] = ()  # each DID's final SIP code, in the order of the DIDs swept
    dids: list[dict[str, object]] = field(default_factory=list)  # each DID: did, ok, code, reason, answer (index)
    answers: list[dict[str, Any]] = field(default_factory=list)  # each distinct SDP answer: answer, dids (count)

    @property
    def passed(self) -> bool:
        return self.ok == self.total

    @property
    def not_ours(self) -> int:
        """DIDs answered 200 by something that is not the contact center."""
        return sum(1 for f in self.failed if f.get("code") == 200)

    def as_dict(self) -> dict[str, object]:
        return {"carrier": self.carrier, "total": self.total, "ok": self.ok, "failed": self.failed,
                "duration_s": self.duration_s, "dids": self.dids, "answers": self.answers}


def carrier_dids(dids: Sequence[str] | None, dids_file: Path | None, role: str) -> list[str]:
    """A carrier's DIDs: its `dids` list, or its `dids_file` (one per line, # comments)."""
    if dids is not None:
        return list(dids)
    if dids_file is None:
        raise ConfigError([(f"carriers.{role}.dids", "the sweep needs dids or dids_file")])
    try:
        lines = Path(dids_file).read_text().splitlines()
    except OSError as exc:
        raise ConfigError([(f"carriers.{role}.dids_file",
                            f"cannot read {dids_file}: {exc.strerror}")]) from None
    dids = [line.split("#", 1)[0].strip() for line in lines]
    bad = [(i + 1, d) for i, d in enumerate(dids)
           if d and not (d.lstrip("+").isdigit() and 3 <= len(d.lstrip("+")) <= 15)]
    if bad:
        line, did = bad[0]
        raise ConfigError([(f"carriers.{role}.dids_file", f"line {line}: {did!r} is not a number like +15550000001")])
    return [d for d in dids if d]


async def sweep_trunk(client: SipClient, role: str, trunk: str, uri: SipUri, files: TlsFiles | None,
                      dids: list[str], *, cps: float,
                      concurrency: int, answer_timeout: float = 8.0, expect: AnswerExpectation | None = None,
                      caller: str | None = None,
                      on_progress: Callable[[int, CallResult], None] | None = None) -> SweepResult:
    """The sweep through a configured trunk: its URI, and for TLS its `tls` settings (`files`), the
    context built once here (TLS files that cannot be loaded fail every DID with the reason)."""
    try:
        context = tls_context(files)
    except TlsError as exc:
        return _none_placed(role, dids, f"{trunk}: {exc}", time.time(), time.perf_counter())
    return await sweep(client, role, uri, dids, cps=cps, concurrency=concurrency,
                       answer_timeout=answer_timeout, ssl_context=context, expect=expect, caller=caller,
                       on_progress=on_progress)


def _none_placed(role: str, dids: list[str], reason: str, started_at: float, begin: float) -> SweepResult:
    failed: list[dict[str, object]] = [{"did": d, "code": None, "reason": reason} for d in dids]
    return SweepResult(role, len(dids), 0, failed, round(time.perf_counter() - begin, 3), started_at,
                       (None,) * len(dids), [{**f, "ok": False, "answer": None} for f in failed])


async def sweep(client: SipClient, role: str, uri: SipUri, dids: list[str], *, cps: float, concurrency: int,
                answer_timeout: float = 8.0, ssl_context: ssl.SSLContext | None = None,
                expect: AnswerExpectation | None = None, caller: str | None = None,
                on_progress: Callable[[int, CallResult], None] | None = None) -> SweepResult:
    """Call every DID at `uri`; a TLS URI needs `ssl_context` (see `sweep_trunk`)."""
    started_at = time.time()
    begin = time.perf_counter()
    try:
        target = (await resolve(uri, timeout=2.0))[0]
    except ResolveError as exc:
        return _none_placed(role, dids, str(exc), started_at, begin)
    room = asyncio.Semaphore(concurrency)
    results: list[CallResult | None] = [None] * len(dids)
    done = 0

    async def one(i: int, did: str) -> None:
        nonlocal done
        try:
            plan = CallPlan(uri, number=did, media=False, answer_timeout=answer_timeout, ssl_context=ssl_context,
                            caller=caller, tone=expect.tone if expect else None)
            results[i] = await place_call(client, plan, target=target)
        finally:
            room.release()
        done += 1
        if on_progress is not None:
            on_progress(done, results[i])  # type: ignore[arg-type]

    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for i, did in enumerate(dids):
        delay = t0 + i / cps - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await room.acquire()
        tasks.append(asyncio.create_task(one(i, did)))
    await asyncio.gather(*tasks)
    calls, answers = _outcomes(dids, results, expect)
    failed: list[dict[str, object]] = [{"did": c["did"], "code": c["code"], "reason": c["reason"]}
                                       for c in calls if not c["ok"]]
    return SweepResult(role, len(dids), len(dids) - len(failed), failed, round(time.perf_counter() - begin, 3),
                       started_at, tuple(r.code if r else None for r in results), calls, answers)


def _outcomes(dids: list[str], results: list[CallResult | None], expect: AnswerExpectation | None
              ) -> tuple[list[dict[str, object]], list[dict[str, Any]]]:
    """Each DID's outcome (its answer as an index into the distinct answers), and those answers."""
    calls: list[dict[str, object]] = []
    answers: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for did, r in zip(dids, results, strict=True):
        if r is None:
            calls.append({"did": did, "ok": False, "code": None, "reason": "not placed", "answer": None})
            continue
        reason = (r.reason or r.status) if r.status != "ok" else (unproven(r, expect) if expect else None)
        seen: int | None = None
        if r.answer is not None:
            summary = r.answer.as_dict()
            key = repr(sorted(summary.items()))
            seen = index.setdefault(key, len(answers))
            if seen == len(answers):
                answers.append({"answer": summary, "dids": 0})
            answers[seen]["dids"] += 1
        calls.append({"did": did, "ok": reason is None, "code": r.code, "reason": reason, "answer": seen})
    return calls, answers
