"""Closed-loop OPTIONS load through the full transaction layer, for `trunkguard bench options`.

`concurrency` transactions are kept in flight; each completion starts the next one, so the
measurement is the client's own per-transaction cost (build, send, Timer E handle, parse, match,
result), not coroutine scheduling. The next one is started from the loop (`call_soon`), never from
inside the completion: a send that fails at once (a TCP peer that closes on every frame) would
otherwise complete, and start the next, inside itself, until the stack ran out. A stream the peer
closed stops the run, reported as `closed_by_peer`.
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
from dataclasses import dataclass
from typing import Any

from trunkguard.sip.client import Outcome, SipClient, Target, TransactionResult
from trunkguard.sip.resolve import resolve
from trunkguard.sip.transport import StreamConnection
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
    closed_by_peer: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"completed": self.completed, "timeouts": self.timeouts, "rate_per_s": self.rate_per_s,
                "rtt_ms": {"p50": self.rtt_p50_ms, "p99": self.rtt_p99_ms},
                "errors": self.errors, "rejected": self.rejected, "stray": self.stray,
                "retransmitted": self.retransmitted, "closed_by_peer": self.closed_by_peer}


async def options_load(uri: SipUri, *, concurrency: int, duration: float, timeout: float = 2.0,
                       warmup: float = 1.0, ssl_context: ssl.SSLContext | None = None) -> LoadReport:
    """Raises ResolveError or TransportError when the peer cannot be reached at all."""
    targets = await resolve(uri, timeout=timeout)
    target: Target = targets[0]
    loop = asyncio.get_running_loop()
    request_uri = str(uri)
    async with SipClient() as client:
        transport = await client.transport_for(target, ssl_context, timeout)
        stream = transport if isinstance(transport, StreamConnection) else None
        rtts: list[float] = []
        counts = {"completed": 0, "timeouts": 0, "errors": 0, "rejected": 0}
        state = {"measuring": False, "stop": False, "closed_by_peer": False}
        idle = asyncio.Event()
        in_flight = 0

        start = client.start

        def launch() -> None:
            nonlocal in_flight
            if state["stop"]:
                return
            if stream is not None and stream.closed:
                state["stop"] = state["closed_by_peer"] = True
                if in_flight == 0:
                    idle.set()
                return
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
                loop.call_soon(launch)
            elif in_flight == 0:
                idle.set()

        for _ in range(concurrency):
            launch()
        await asyncio.sleep(warmup)
        state["measuring"] = not state["stop"]
        stray_before = client.stats.stray
        retrans_before = client.stats.retransmitted
        started = time.perf_counter()
        if state["measuring"]:
            await asyncio.sleep(duration)
        elapsed = max(time.perf_counter() - started, 1e-9)
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
        stray=client.stats.stray - stray_before, retransmitted=client.stats.retransmitted - retrans_before,
        closed_by_peer=state["closed_by_peer"])
