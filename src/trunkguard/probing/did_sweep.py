"""The DID sweep (the guide's SNA pre-warm check): a test call to every DID through a carrier's
trunk, Request-URI `sip:<DID>@<trunk host:port>`. A DID passes on a final 200 (then ACK and BYE).

Calls start on an exact schedule, call i at t0 + i / cps, because carriers cap calls per second;
at most `concurrency` are in flight, and a call waiting for room starts late rather than early, so
the rate never exceeds `cps`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from trunkguard.config import CarrierConfig
from trunkguard.errors import ConfigError, ResolveError
from trunkguard.probing.sip_invite import CallPlan, CallResult, place_call
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


async def sweep(client: SipClient, role: str, uri: SipUri, dids: list[str], *, cps: float, concurrency: int,
                answer_timeout: float = 8.0, on_progress: Callable[[int, CallResult], None] | None = None
                ) -> SweepResult:
    started_at = time.time()
    begin = time.perf_counter()
    try:
        target = (await resolve(uri, timeout=2.0))[0]
    except ResolveError as exc:
        unreachable: list[dict[str, object]] = [{"did": d, "code": None, "reason": str(exc)} for d in dids]
        return SweepResult(role, len(dids), 0, unreachable, round(time.perf_counter() - begin, 3), started_at)
    room = asyncio.Semaphore(concurrency)
    results: list[CallResult | None] = [None] * len(dids)
    done = 0

    async def one(i: int, did: str) -> None:
        nonlocal done
        try:
            results[i] = await place_call(client, CallPlan(uri, number=did, media=False,
                                                           answer_timeout=answer_timeout), target=target)
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
                       started_at)
