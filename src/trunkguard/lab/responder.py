"""A lab carrier on loopback: answers OPTIONS, and INVITE with an SDP answer and RTP echo, over
UDP, TCP and TLS, with faults switchable while it runs (`responder.fault = Fault(...)`):

`down` (silence), `code` (answer every request with that final code, e.g. 503), `loss` (drop
each request with that probability), `latency` (answer late), `media_down` (SIP answers but no
RTP comes back), `reject` (numbers answered 404: DIDs the carrier never provisioned).
An INVITE gets 180 then 200 with SDP pointing at the carrier's RTP echo port; BYE and CANCEL get
200. The demo, `trunkguard lab` and the tests use it; SIPp stays the independent peer.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from trunkguard.errors import SipParseError
from trunkguard.sip.message import SipRequest, build_response, parse_message
from trunkguard.sip.sdp import parse_answer
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
    media_down: bool = False
    reject: frozenset[str] = frozenset()

    def describe(self) -> str:
        if self.down:
            return "down (no answer)"
        parts = [f"answers {self.code}" if self.code else "up"]
        if self.media_down:
            parts.append("media dead (no RTP back)")
        if self.reject:
            parts.append(f"404 for {len(self.reject)} DIDs")
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
    _rtp: asyncio.DatagramTransport | None = field(default=None, repr=False)
    rtp_port: int = 0
    rtp_echoed: int = 0

    async def start(self) -> SipResponder:
        loop = asyncio.get_running_loop()
        if self.seed is not None:
            self._rng.seed(self.seed)
        responder_ = self

        class _Echo(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                if not responder_.fault.media_down and not responder_.fault.down and responder_._rtp is not None:
                    responder_.rtp_echoed += 1
                    responder_._rtp.sendto(data, addr)

        self._rtp, _ = await loop.create_datagram_endpoint(_Echo, local_addr=(self.host, 0))
        self.rtp_port = self._rtp.get_extra_info("sockname")[1]
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
        if request.method == "INVITE" and not fault.code:
            self._invite(request, reply)
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

    def _invite(self, request: SipRequest, reply: Callable[[bytes], None]) -> None:
        number = request.uri.split(":", 1)[-1].split("@", 1)[0] if "@" in request.uri else ""
        tag = f"lab{self.port}"
        server = f"Server: {self.server_header}\r\n"
        if number in self.fault.reject:
            self.answered += 1
            reply(build_response(request, 404, "Not Found", to_tag=tag, extra=server))
            return
        try:
            offer = parse_answer(request.body)
        except SipParseError:
            reply(build_response(request, 488, "Not Acceptable Here", to_tag=tag, extra=server))
            return
        sdp = (f"v=0\r\no=lab 1 1 IN IP4 {self.host}\r\ns=lab carrier\r\nc=IN IP4 {self.host}\r\nt=0 0\r\n"
               f"m=audio {self.rtp_port} RTP/AVP {offer.payload_type}\r\n"
               f"a=rtpmap:{offer.payload_type} {offer.codec}/8000\r\na=sendrecv\r\n").encode()
        contact = f"Contact: <sip:lab@{self.host}:{self.port};transport={self.transport.value}>\r\n"
        self.answered += 1
        reply(build_response(request, 180, "Ringing", to_tag=tag, extra=server))
        reply(build_response(request, 200, "OK", to_tag=tag, body=sdp,
                             extra=f"{server}{contact}Content-Type: application/sdp\r\n"))

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
        if self._rtp is not None:
            self._rtp.close()
            self._rtp = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
