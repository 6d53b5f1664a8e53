"""A carrier's SIP responder on loopback: answers OPTIONS over UDP, TCP and TLS, with faults.

Faults can be switched while it runs (`responder.fault = Fault(...)`):
`down` (silence), `code` (answer every request with that final code), `loss` (drop each
request with that probability), `latency` (answer late). The demo and `trunkguard lab` use it.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from trunkguard.errors import SipParseError
from trunkguard.sip.message import SipRequest, build_response, parse_message
from trunkguard.sip.transport import StreamConnection
from trunkguard.sip.uri import Transport

REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 480: "Temporarily Unavailable",
           483: "Too Many Hops", 486: "Busy Here", 500: "Server Internal Error", 503: "Service Unavailable",
           603: "Decline"}


@dataclass(frozen=True)
class Fault:
    down: bool = False
    code: int | None = None
    loss: float = 0.0
    latency: float = 0.0

    def describe(self) -> str:
        if self.down:
            return "down (no answer)"
        parts = [f"answers {self.code}" if self.code else "up"]
        if self.loss:
            parts.append(f"{self.loss:.0%} loss")
        if self.latency:
            parts.append(f"{self.latency * 1000:.0f} ms latency")
        return ", ".join(parts)


@dataclass
class SipResponder:
    """Answers OPTIONS with 200 (or the fault's code). Counts what it answered."""

    host: str = "127.0.0.1"
    port: int = 0
    transport: Transport = Transport.UDP
    ssl_context: ssl.SSLContext | None = None
    fault: Fault = field(default_factory=Fault)
    server_header: str = "trunkguard-lab"
    seed: int | None = None
    answered: int = 0
    received: int = 0
    _server: asyncio.AbstractServer | None = field(default=None, repr=False)
    _udp: asyncio.DatagramTransport | None = field(default=None, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    async def start(self) -> SipResponder:
        loop = asyncio.get_running_loop()
        if self.seed is not None:
            self._rng.seed(self.seed)
        if self.transport is Transport.UDP:
            responder = self

            class _Udp(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                    responder._on_request(data, lambda out: responder._send_udp(out, addr))

            transport, _ = await loop.create_datagram_endpoint(_Udp, local_addr=(self.host, self.port))
            self._udp = transport
            self.port = transport.get_extra_info("sockname")[1]
        else:
            if self.transport is Transport.TLS and self.ssl_context is None:
                raise ValueError("a TLS responder needs a server ssl_context")

            def make() -> StreamConnection:
                conn: StreamConnection

                def on_message(data: bytes, _peer: tuple[str, int], _c: StreamConnection | None) -> None:
                    self._on_request(data, conn.send)

                conn = StreamConnection(on_message, lambda _c, _why: None, lambda: None)
                return conn

            self._server = await loop.create_server(
                make, self.host, self.port,
                ssl=self.ssl_context if self.transport is Transport.TLS else None)
            self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def uri(self) -> str:
        return f"sip:{self.host}:{self.port};transport={self.transport.value}"

    def _send_udp(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(data, addr)

    def _on_request(self, data: bytes, reply: Callable[[bytes], None]) -> None:
        self.received += 1
        fault = self.fault
        if fault.down or (fault.loss and self._rng.random() < fault.loss):
            return
        try:
            request = parse_message(data)
        except SipParseError:
            return
        if not isinstance(request, SipRequest) or request.method == "ACK":
            return
        code = fault.code or 200
        response = build_response(
            request, code, REASONS.get(code, "Response"), to_tag=f"lab{self.port}",
            extra=f"Server: {self.server_header}\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n")
        if fault.latency:
            task = asyncio.get_running_loop().create_task(self._late(fault.latency, reply, response))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self.answered += 1
            reply(response)

    async def _late(self, delay: float, reply: Callable[[bytes], None], response: bytes) -> None:
        await asyncio.sleep(delay)
        self.answered += 1
        try:
            reply(response)
        except Exception:
            return

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
