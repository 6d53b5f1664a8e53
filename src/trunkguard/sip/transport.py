"""SIP transports on asyncio: one UDP endpoint per address family, one stream per TCP/TLS peer.

Each hands every received message (datagram, or message framed off a stream by Content-Length)
to one callback with where it came from. Foreign errors become TransportError / TlsError here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from trunkguard.errors import SipParseError, TlsError, TransportError
from trunkguard.sip.message import MAX_MESSAGE_BYTES, parse_content_length

UDP_RCVBUF = 4 * 1024 * 1024
MessageHandler = Callable[[bytes, tuple[str, int], "StreamConnection | None"], None]


class UdpEndpoint(asyncio.DatagramProtocol):
    """An unconnected UDP socket: sends to any peer, hands every datagram to `on_datagram`."""

    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None],
                 on_error: Callable[[Exception], None]) -> None:
        # The hot path: the loop calls the client's handler directly, one Python call per datagram.
        self.datagram_received = on_datagram  # type: ignore[method-assign,assignment]
        self._on_error = on_error
        self.transport: asyncio.DatagramTransport | None = None
        self.local: tuple[str, int] = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # capped by net.core.rmem_max; best effort
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
        self.local = transport.get_extra_info("sockname")[:2]
        self.send = self.transport.sendto  # type: ignore[method-assign,union-attr]  # no wrapper on the hot path

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # replaced in __init__
        raise NotImplementedError

    def error_received(self, exc: Exception) -> None:
        self._on_error(exc)

    def send(self, data: bytes, addr: tuple[str, int]) -> None:  # replaced by sendto once connected
        raise TransportError("UDP endpoint is not open yet")


async def open_udp(family: int, on_datagram: Callable[[bytes, tuple[str, int]], None],
                   on_error: Callable[[Exception], None], bind_host: str | None = None) -> UdpEndpoint:
    loop = asyncio.get_running_loop()
    host = bind_host or ("::" if family == socket.AF_INET6 else "0.0.0.0")
    try:
        _, endpoint = await loop.create_datagram_endpoint(
            lambda: UdpEndpoint(on_datagram, on_error), local_addr=(host, 0), family=family)
    except OSError as exc:
        raise TransportError(f"cannot open a UDP socket on {host}: {exc.strerror or exc}") from exc
    return endpoint


class StreamConnection(asyncio.Protocol):
    """A TCP or TLS connection to one peer; frames messages by Content-Length (RFC 3261 18.3)."""

    def __init__(self, on_message: MessageHandler, on_lost: Callable[[StreamConnection, str], None],
                 on_malformed: Callable[[], None]) -> None:
        self._on_message = on_message
        self._on_lost = on_lost
        self._on_malformed = on_malformed
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.local: tuple[str, int] = ("", 0)
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")[:2]
        self.local = transport.get_extra_info("sockname")[:2]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            buf = self._buffer
            stripped = len(buf) - len(buf.lstrip(b"\r\n"))
            if stripped:  # CRLF keep-alives between messages (RFC 5626)
                del buf[:stripped]
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_MESSAGE_BYTES:
                    self._fail("peer sent headers over the size limit")
                return
            try:
                length = _content_length(bytes(buf[:end]))
            except SipParseError:
                self._on_malformed()
                self._fail("peer sent a message without a valid Content-Length")
                return
            total = end + 4 + length
            if total > MAX_MESSAGE_BYTES:
                self._fail("peer sent a message over the size limit")
                return
            if len(buf) < total:
                return
            message = bytes(buf[:total])
            del buf[:total]
            self._on_message(message, self.peer, self)

    def _fail(self, why: str) -> None:
        self._buffer.clear()
        if self.transport is not None:
            self.transport.close()
        self._lost(why)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost("connection closed by peer" if exc is None else f"connection lost: {exc}")

    def _lost(self, why: str) -> None:
        if not self.closed:
            self.closed = True
            self._on_lost(self, why)

    def send(self, data: bytes, addr: tuple[str, int] | None = None) -> None:
        if self.transport is None or self.closed:
            raise TransportError("connection is closed")
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() in (b"content-length", b"l"):
            return parse_content_length(value.decode("latin-1"))
    raise SipParseError("missing Content-Length on a stream")


async def open_stream(host: str, port: int, *, ssl_context: ssl.SSLContext | None,
                      server_name: str | None, on_message: MessageHandler,
                      on_lost: Callable[[StreamConnection, str], None],
                      on_malformed: Callable[[], None], timeout: float) -> StreamConnection:
    """Connect (and for TLS, handshake) within `timeout`; raise TimeoutError past it."""
    loop = asyncio.get_running_loop()
    kind = "TLS" if ssl_context else "TCP"
    try:
        async with asyncio.timeout(timeout):
            _, conn = await loop.create_connection(
                lambda: StreamConnection(on_message, on_lost, on_malformed), host, port,
                ssl=ssl_context, server_hostname=(server_name or host) if ssl_context else None,
                ssl_handshake_timeout=timeout if ssl_context else None)
    except ssl.SSLCertVerificationError as exc:
        raise TlsError(f"TLS certificate of {host}:{port} did not verify: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise TlsError(f"TLS handshake with {host}:{port} failed: {exc.reason or exc}") from exc
    except ConnectionRefusedError as exc:
        raise TransportError(f"{kind} connection to {host}:{port} refused") from exc
    except TimeoutError:
        raise
    except OSError as exc:
        raise TransportError(f"{kind} connection to {host}:{port} failed: {exc.strerror or exc}") from exc
    return conn


def client_tls_context(*, ca_file: Path | None = None, cert_file: Path | None = None,
                       key_file: Path | None = None, verify: bool = True) -> ssl.SSLContext:
    """A client TLS context: the system CAs or `ca_file`; mutual TLS when a cert is given."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if ca_file is not None:
            ctx.load_verify_locations(cafile=str(ca_file))
        if cert_file is not None:
            ctx.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot load TLS files: {exc}") from exc
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
