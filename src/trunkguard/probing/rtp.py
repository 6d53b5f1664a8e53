"""The RTP half of dual validation: send G.711 (or the answered codec's) packets every 20 ms to
the answered address and measure what comes back.

Carriers' test numbers and SIPp's `-rtp_echo` reflect our packets, so each echo is matched to the
packet sent (same SSRC and sequence number) for a round-trip time. Interarrival jitter follows
RFC 3550 appendix A.8. No packet back within the RTP timeout means no media. Written here rather
than taken from aiortp (the research's candidate) because the check needs per-packet send and
arrival times, which aiortp's jitter buffer hides.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import struct
import time
from dataclasses import dataclass

_HEADER = struct.Struct("!BBHII")
PAYLOAD_BYTES = {0: 160, 8: 160, 18: 20, 9: 160, 3: 33}
SILENCE = {0: 0xFF, 8: 0xD5}


@dataclass(frozen=True)
class RtpReport:
    sent: int
    received: int
    loss_pct: float
    jitter_ms: float
    rtt_ms: float | None

    @property
    def media(self) -> bool:
        return self.received > 0

    def as_dict(self) -> dict[str, object]:
        return {"sent": self.sent, "received": self.received, "loss_pct": self.loss_pct,
                "jitter_ms": self.jitter_ms, "rtt_ms": self.rtt_ms}


class RtpSession(asyncio.DatagramProtocol):
    """One RTP socket: `open()`, then `check()` against the answered address."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self._sent_at: dict[int, float] = {}
        self._rtts: list[float] = []
        self._received = 0
        self._first_arrival = asyncio.Event()
        self._t0 = 0.0
        self._jitter = 0.0
        self._last_transit: float | None = None

    @classmethod
    async def open(cls, host: str) -> RtpSession:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        _, session = await loop.create_datagram_endpoint(cls, local_addr=(host, 0), family=family)
        return session

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return  # not RTP
        now = time.perf_counter()
        _, _, seq, ts, ssrc = _HEADER.unpack_from(data)
        self._received += 1
        self._first_arrival.set()
        transit = (now - self._t0) * 8000 - ts
        if self._last_transit is not None:
            self._jitter += (abs(transit - self._last_transit) - self._jitter) / 16
        self._last_transit = transit
        if ssrc == self.ssrc and seq in self._sent_at:
            self._rtts.append(now - self._sent_at.pop(seq))

    async def check(self, remote: tuple[str, int], *, payload_type: int, duration: float,
                    rtp_timeout: float, ptime: float = 0.02) -> RtpReport:
        """Send for `duration`, keep listening until `rtp_timeout` if nothing came back yet."""
        assert self.transport is not None
        size = PAYLOAD_BYTES.get(payload_type, 160)
        payload = bytes([SILENCE.get(payload_type, 0)]) * size
        samples = int(8000 * ptime)
        count = max(1, round(duration / ptime))
        self._t0 = time.perf_counter()
        sent = 0
        for i in range(count):
            due = self._t0 + i * ptime
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            header = _HEADER.pack(0x80, (0x80 if i == 0 else 0) | (payload_type & 0x7F), i & 0xFFFF,
                                  (i * samples) & 0xFFFFFFFF, self.ssrc)
            self._sent_at[i & 0xFFFF] = time.perf_counter()
            self.transport.sendto(header + payload, remote)
            sent += 1
        if not self._first_arrival.is_set():
            remaining = self._t0 + rtp_timeout - time.perf_counter()
            if remaining > 0:
                try:
                    async with asyncio.timeout(remaining):
                        await self._first_arrival.wait()
                except TimeoutError:
                    pass
        if self._received:
            await asyncio.sleep(min(0.2, rtp_timeout))  # stragglers of the last packets
        received = min(self._received, sent)
        return RtpReport(sent=sent, received=received, loss_pct=round(100 * (sent - received) / sent, 2),
                         jitter_ms=round(self._jitter / 8, 3),
                         rtt_ms=round(statistics.median(self._rtts) * 1000, 3) if self._rtts else None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
