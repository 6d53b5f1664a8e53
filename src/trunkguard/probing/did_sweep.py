"""The DID sweep (the guide's SNA pre-warm check): a test call to every DID through a carrier's
trunk, Request-URI `sip:<DID>@<trunk host:port>`. A DID passes on a final 200 (then ACK and BYE).

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from trunkguard.config import CarrierConfig, TrunkConfig
from trunkguard.errors import ConfigError, ResolveError, TlsError
from trunkguard.probing.sip_invite import CallPlan, CallResult, place_call
from trunkguard.probing.sip_options import trunk_tls_context
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

    @property
    def passed(self) -> bool:
        return self.ok == self.total

    def as_dict(self) -> dict[str, object]:
        return {"carrier": self.carrier, "total": self.total, "ok": self.ok, "failed": self.failed,
                "duration_s": self.duration_s}


def carrier_dids(carrier: CarrierConfig, role: str) -> list[str]:
    """The carrier's DIDs: the `dids` list, or `dids_file` (one per line, # comments)."""
    if carrier.dids is not None:
        return list(carrier.dids)
    if carrier.dids_file is None:
        raise ConfigError([(f"carriers.{role}.dids", "the sweep needs dids or dids_file")])
    try:
        lines = Path(carrier.dids_file).read_text().splitlines()
    except OSError as exc:
        raise ConfigError([(f"carriers.{role}.dids_file",
                            f"cannot read {carrier.dids_file}: {exc.strerror}")]) from None
    dids = [line.split("#", 1)[0].strip() for line in lines]
    bad = [(i + 1, d) for i, d in enumerate(dids)
           if d and not (d.lstrip("+").isdigit() and 3 <= len(d.lstrip("+")) <= 15)]
    if bad:
        line, did = bad[0]
        raise ConfigError([(f"carriers.{role}.dids_file", f"line {line}: {did!r} is not a number like +15550000001")])
    return [d for d in dids if d]


async def sweep_trunk(client: SipClient, role: str, trunk: TrunkConfig, dids: list[str], *, cps: float,
                      concurrency: int, answer_timeout: float = 8.0,
                      on_progress: Callable[[int, CallResult], None] | None = None) -> SweepResult:
    """The sweep through a configured trunk: its URI, and for TLS its `tls` settings, the context built
    once here (TLS files that cannot be loaded fail every DID with the reason)."""
    try:
        context = trunk_tls_context(trunk)
    except TlsError as exc:
        return _none_placed(role, dids, f"{trunk.name}: {exc}", time.time(), time.perf_counter())
    return await sweep(client, role, trunk.sip_uri, dids, cps=cps, concurrency=concurrency,
                       answer_timeout=answer_timeout, ssl_context=context, on_progress=on_progress)


def _none_placed(role: str, dids: list[str], reason: str, started_at: float, begin: float) -> SweepResult:
    failed: list[dict[str, object]] = [{"did": d, "code": None, "reason": reason} for d in dids]
    return SweepResult(role, len(dids), 0, failed, round(time.perf_counter() - begin, 3), started_at,
                       (None,) * len(dids))


async def sweep(client: SipClient, role: str, uri: SipUri, dids: list[str], *, cps: float, concurrency: int,
                answer_timeout: float = 8.0, ssl_context: ssl.SSLContext | None = None,
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
            results[i] = await place_call(client, CallPlan(uri, number=did, media=False, answer_timeout=answer_timeout,
                                                           ssl_context=ssl_context), target=target)
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
    failed: list[dict[str, object]] = [
        {"did": did, "code": r.code if r else None, "reason": (r.reason or r.status) if r else "not placed"}
        for did, r in zip(dids, results, strict=True) if r is None or r.status != "ok"]
    return SweepResult(role, len(dids), len(dids) - len(failed), failed, round(time.perf_counter() - begin, 3),
                       started_at, tuple(r.code if r else None for r in results))
