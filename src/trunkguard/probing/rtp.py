"""The RTP half of dual validation: send G.711 (or the answered codec's) packets every 20 ms to
the answered address and measure what comes back; or, for the DID sweep, listen for a tone.

Every packet of a media check carries a random payload, and only a packet bringing one of those
payloads back counts as echoed: carriers' test numbers and SIPp's `-rtp_echo` reflect our packets
(an SBC may restamp the header, so the payload is what is matched). A peer sending its own audio at
full rate is not an echo: RTP flows, but nobody hears the caller (one-way audio), and the report
says how many packets came back and how many of them were ours. Loss, round-trip time and
interarrival jitter (RFC 3550 appendix A.8, against the timestamps we sent) are computed on ours
only. Nothing of ours back within the RTP timeout means no media.

Written here rather than taken from aiortp (the research's candidate) because the check needs
per-packet send and arrival times, which aiortp's jitter buffer hides.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import struct
import time
from dataclasses import dataclass

from trunkguard.probing.tone import ToneDetector, decode

_HEADER = struct.Struct("!BBHII")
PAYLOAD_BYTES = {0: 160, 8: 160, 18: 20, 9: 160, 3: 33}
SILENCE = {0: 0xFF, 8: 0xD5}


@dataclass(frozen=True)
class RtpReport:
    sent: int
    received: int  # our packets back: their payload is one we sent
    loss_pct: float
    jitter_ms: float
    rtt_ms: float | None
    arrived: int | None = None  # every RTP packet that came in, ours or not (None: the same as received)

    @property
    def media(self) -> bool:
        return self.received > 0

    @property
    def came_back(self) -> int:
        return self.received if self.arrived is None else self.arrived

    @property
    def one_way(self) -> bool:
        """RTP came in, but none of it was ours: the far end does not hear the caller."""
        return self.received == 0 and self.came_back > 0

    def as_dict(self) -> dict[str, object]:
        return {"sent": self.sent, "received": self.received, "arrived": self.came_back,
                "loss_pct": self.loss_pct, "jitter_ms": self.jitter_ms, "rtt_ms": self.rtt_ms}


def rtp_payload(data: bytes) -> tuple[int, bytes] | None:
    """(payload type, payload) of an RTP packet, past its CSRCs, extension and padding; None if not RTP."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    start = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if len(data) < start + 4:
            return None
        start += 4 + 4 * int.from_bytes(data[start + 2:start + 4], "big")
    end = len(data) - (data[-1] if data[0] & 0x20 else 0)
    return (data[1] & 0x7F, data[start:end]) if start <= end else None


class RtpSession(asyncio.DatagramProtocol):
    """One RTP socket: `open()`, then `check()` (an echo) or `listen()` (a tone) against the answered address."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self._ours: dict[bytes, int] = {}  # payload sent -> its packet index
        self._sent_at: list[float] = []
        self._matched: set[int] = set()
        self._rtts: list[float] = []
        self._arrived = 0
        self._first_ours = asyncio.Event()
        self._t0 = 0.0
        self._samples = 160
        self._jitter = 0.0
        self._last_transit: float | None = None
        self._detector: ToneDetector | None = None
        self._heard = asyncio.Event()

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
        parsed = rtp_payload(data)
        if parsed is None:
            return
        now = time.perf_counter()
        payload_type, payload = parsed
        self._arrived += 1
        if self._detector is not None and not self._detector.found:
            samples = decode(payload, payload_type)
            if samples is not None and self._detector.feed(samples):
                self._heard.set()
        index = self._ours.get(payload)
        if index is None or index in self._matched:
            return
        self._matched.add(index)
        self._first_ours.set()
        self._rtts.append(now - self._sent_at[index])
        transit = (now - self._t0) * 8000 - index * self._samples  # against the timestamp we sent
        if self._last_transit is not None:
            self._jitter += (abs(transit - self._last_transit) - self._jitter) / 16
        self._last_transit = transit

    async def _send(self, remote: tuple[str, int], payload_type: int, count: int, ptime: float,
                    payload: bytes | None, stop: asyncio.Event | None = None) -> int:
        """`count` packets, one every `ptime` from now: random payloads (remembered), or `payload` each time."""
        assert self.transport is not None
        size = PAYLOAD_BYTES.get(payload_type, 160)
        self._samples = int(8000 * ptime)
        self._t0 = time.perf_counter()
        sent = 0
        for i in range(count):
            due = self._t0 + i * ptime
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if stop is not None and stop.is_set():
                break
            body = payload if payload is not None else os.urandom(size)
            if payload is None:
                self._ours[body] = i
            header = _HEADER.pack(0x80, (0x80 if i == 0 else 0) | (payload_type & 0x7F), i & 0xFFFF,
                                  (i * self._samples) & 0xFFFFFFFF, self.ssrc)
            self._sent_at.append(time.perf_counter())
            self.transport.sendto(header + body, remote)
            sent += 1
        return sent

    async def check(self, remote: tuple[str, int], *, payload_type: int, duration: float,
                    rtp_timeout: float, ptime: float = 0.02) -> RtpReport:
        """Send random audio for `duration`; keep listening until `rtp_timeout` if none of it came back yet."""
        sent = await self._send(remote, payload_type, max(1, round(duration / ptime)), ptime, None)
        if not self._first_ours.is_set():
            remaining = self._t0 + rtp_timeout - time.perf_counter()
            if remaining > 0:
                try:
                    async with asyncio.timeout(remaining):
                        await self._first_ours.wait()
                except TimeoutError:
                    pass
        if self._matched:
            await asyncio.sleep(min(0.2, rtp_timeout))  # stragglers of the last packets
        received = len(self._matched)
        return RtpReport(sent=sent, received=received, loss_pct=round(100 * (sent - received) / sent, 2),
                         jitter_ms=round(self._jitter / 8, 3),
                         rtt_ms=round(statistics.median(self._rtts) * 1000, 3) if self._rtts else None,
                         arrived=self._arrived)

    async def listen(self, remote: tuple[str, int], *, payload_type: int, detector: ToneDetector, within: float,
                     ptime: float = 0.02) -> float | None:
        """Send silence (so NATs and SBCs latch onto this address) and feed what comes back to `detector`
        until it hears its tone or `within` seconds have passed: the seconds it took, or None."""
        self._detector = detector
        started = time.perf_counter()
        sender = asyncio.ensure_future(self._send(remote, payload_type, max(1, round(within / ptime)), ptime,
                                                  bytes([SILENCE.get(payload_type, 0)]) * PAYLOAD_BYTES.get(
                                                      payload_type, 160), self._heard))
        try:
            async with asyncio.timeout(within):
                await self._heard.wait()
        except TimeoutError:
            pass
        finally:
            self._heard.set()  # stops the sender
            await sender
        return round(time.perf_counter() - started, 3) if detector.found else None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
