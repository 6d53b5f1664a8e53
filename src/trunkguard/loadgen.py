"""Closed-loop OPTIONS load through the full transaction layer, for `trunkguard bench options`.

`concurrency` transactions are kept in flight; each completion starts the next one from its
callback, so the measurement is the client's own per-transaction cost (build, send, Timer E
handle, parse, match, result), not coroutine scheduling.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

from trunkguard.sip.client import Outcome, SipClient, Target, TransactionResult
from trunkguard.sip.resolve import resolve
from trunkguard.sip.uri import SipUri


@dataclass(frozen=True)
class LoadReport:
    completed: int
    timeouts: int
    errors: int
    rejected: int
    rate_per_s: float
    rtt_p50_ms: float
    rtt_p99_ms: float
    stray: int
    retransmitted: int

    def as_dict(self) -> dict[str, Any]:
        return {"completed": self.completed, "timeouts": self.timeouts, "rate_per_s": self.rate_per_s,
                "rtt_ms": {"p50": self.rtt_p50_ms, "p99": self.rtt_p99_ms},
                "errors": self.errors, "rejected": self.rejected, "stray": self.stray,
                "retransmitted": self.retransmitted}


async def options_load(uri: SipUri, *, concurrency: int, duration: float, timeout: float = 2.0,
                       warmup: float = 1.0) -> LoadReport:
    targets = await resolve(uri, timeout=timeout)
    target: Target = targets[0]
    loop = asyncio.get_running_loop()
    request_uri = str(uri)
    async with SipClient() as client:
        transport = await client.transport_for(target, None, timeout)
        rtts: list[float] = []
        counts = {"completed": 0, "timeouts": 0, "errors": 0, "rejected": 0}
        state = {"measuring": False, "stop": False}
        idle = asyncio.Event()
        in_flight = 0

        start = client.start

        def launch() -> None:
            nonlocal in_flight
            in_flight += 1
            start(target, "OPTIONS", request_uri, transport, loop.time() + timeout, done)

        def done(result: TransactionResult) -> None:
            nonlocal in_flight
            in_flight -= 1
            if state["measuring"]:
                response = result.response
                if response is not None:
                    counts["completed"] += 1
                    if response.status >= 300:
                        counts["rejected"] += 1
                    rtts.append(result.rtt or 0.0)
                elif result.outcome is Outcome.TIMEOUT:
                    counts["timeouts"] += 1
                else:
                    counts["errors"] += 1
            if not state["stop"]:
                launch()
            elif in_flight == 0:
                idle.set()

        for _ in range(concurrency):
            launch()
        await asyncio.sleep(warmup)
        stray_before = client.stats.stray
        retrans_before = client.stats.retransmitted
        state["measuring"] = True
        started = time.perf_counter()
        await asyncio.sleep(duration)
        elapsed = time.perf_counter() - started
        state["measuring"] = False
        state["stop"] = True
        if in_flight:
            try:
                async with asyncio.timeout(timeout + 1):
                    await idle.wait()
            except TimeoutError:
                pass
    rtts.sort()
    return LoadReport(
        completed=counts["completed"], timeouts=counts["timeouts"], errors=counts["errors"],
        rejected=counts["rejected"], rate_per_s=round(counts["completed"] / elapsed, 1),
        rtt_p50_ms=round(statistics.median(rtts) * 1000, 3) if rtts else 0.0,
        rtt_p99_ms=round(rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] * 1000, 3) if rtts else 0.0,
        stray=client.stats.stray - stray_before, retransmitted=client.stats.retransmitted - retrans_before)
