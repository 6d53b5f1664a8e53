"""SIP transports on asyncio: one UDP endpoint per address family, one stream per TCP/TLS peer.

Each hands every received message (datagram, or message framed off a stream by Content-Length)
to one callback with where it came from. Foreign errors become TransportError / TlsError here.

A trunk's TLS context (`TrunkTlsContext`) carries the SPKI pins its peer must match and knows where a
newer one of itself is (its files re-read after they changed, probing/tls_files.py). `open_stream`,
the one place TLS connections are made, handshakes with the newest and checks the pins after the
handshake: `enforce` fails the connection, `report` logs the mismatch once and keeps it. A
connection made with files that have changed since counts as closed for new transactions (they
get a new connection, with the new files); it closes itself once its own have had time to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import socket
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from trunkguard.errors import SipParseError, TlsError, TransportError
from trunkguard.logs import fields
from trunkguard.sip.message import MAX_MESSAGE_BYTES, parse_content_length

UDP_RCVBUF = 4 * 1024 * 1024
RETIRE_GRACE = 32.0  # a retired connection closes after this: Timer F, the longest a transaction waits
MessageHandler = Callable[[bytes, tuple[str, int], "StreamConnection | None"], None]
PinMode = Literal["report", "enforce"]
log = logging.getLogger("trunkguard.tls")
_reported: set[tuple[str, int, str]] = set()  # report-mode pin mismatches already logged (peer, key)


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


class TrunkTlsContext(ssl.SSLContext):
    """A trunk's client TLS context: the SPKI pins its peer must match (`pins`, SHA-256 hex of the
    SubjectPublicKeyInfo; none: no check) and `pin_mode`, and `successor`, which gives the newest
    context for the same files (None: this one is always current)."""

    pins: tuple[str, ...] = ()
    pin_mode: PinMode = "report"
    successor: Callable[[], ssl.SSLContext] | None = None

    def current(self) -> ssl.SSLContext:
        return self if self.successor is None else self.successor()


class StreamConnection(asyncio.Protocol):
    """A TCP or TLS connection to one peer; frames messages by Content-Length (RFC 3261 18.3)."""

    def __init__(self, on_message: MessageHandler, on_lost: Callable[[StreamConnection, str], None],
                 on_malformed: Callable[[], None], tls: ssl.SSLContext | None = None) -> None:
        self._on_message = on_message
        self._on_lost = on_lost
        self._on_malformed = on_malformed
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.local: tuple[str, int] = ("", 0)
        self._gone = False     # lost or closed: nothing more is sent
        self._retired = False  # its TLS files changed: no new transactions
        # the context it was made with, when that may be succeeded by a newer one
        self._tls = tls if isinstance(tls, TrunkTlsContext) and tls.successor is not None else None

    @property
    def closed(self) -> bool:
        """Gone, or retired: made with TLS files that changed since (a new transaction takes a new
        connection, with the new files; this one closes once its own transactions have had time)."""
        if not self._gone and not self._retired and self._tls is not None and self._tls.current() is not self._tls:
            self._retired = True
            try:
                asyncio.get_running_loop().call_later(RETIRE_GRACE, self.close)
            except RuntimeError:  # no loop running: nothing can be in flight on it
                self.close()
        return self._gone or self._retired

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
        if not self._gone:
            self._gone = True
            self._on_lost(self, why)

    def send(self, data: bytes, addr: tuple[str, int] | None = None) -> None:
        if self.transport is None or self._gone:  # a retired connection still carries its own transactions
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
    """Connect (and for TLS, handshake) within `timeout`; raise TimeoutError past it. A trunk's TLS
    context is taken at its newest, and its pins are checked after the handshake."""
    loop = asyncio.get_running_loop()
    kind = "TLS" if ssl_context else "TCP"
    if isinstance(ssl_context, TrunkTlsContext):
        ssl_context = ssl_context.current()
    try:
        async with asyncio.timeout(timeout):
            _, conn = await loop.create_connection(
                lambda: StreamConnection(on_message, on_lost, on_malformed, ssl_context), host, port,
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
    if isinstance(ssl_context, TrunkTlsContext) and ssl_context.pins:
        _check_pins(conn, ssl_context, host, port)
    return conn


def spki_sha256(der: bytes) -> str:
    """The SHA-256 (hex) of a DER certificate's SubjectPublicKeyInfo: what `tls.pin_sha256` names."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = x509.load_der_x509_certificate(der).public_key()
    return hashlib.sha256(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def _check_pins(conn: StreamConnection, ctx: TrunkTlsContext, host: str, port: int) -> None:
    """After the handshake: does the peer's public key match one of the pins? enforce: the connection
    is closed and TlsError raised; report: logged once per peer and key, and kept."""
    ssl_object = conn.transport.get_extra_info("ssl_object") if conn.transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    key = spki_sha256(der) if der else "(no certificate)"
    if key in ctx.pins:
        return
    what = f"TLS peer {host}:{port} does not match tls.pin_sha256: its public key's SHA-256 is {key}"
    if ctx.pin_mode == "enforce":
        conn.close()
        raise TlsError(what)
    if (host, port, key) not in _reported:
        _reported.add((host, port, key))
        log.warning("%s (pin_mode report: the connection is kept; set pin_mode enforce to refuse it)", what,
                    extra=fields("tls_pin_mismatch", peer=f"{host}:{port}", spki_sha256=key))


@functools.cache
def _defaults() -> ssl.SSLContext:
    """Python's default client context, whose verification settings every context here copies."""
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


def client_tls_context(*, ca_file: Path | None = None, cert_file: Path | None = None,
                       key_file: Path | None = None, verify: bool = True, pins: Sequence[str] = (),
                       pin_mode: PinMode = "report") -> TrunkTlsContext:
    """A client TLS context: the system CAs and `ca_file`; mutual TLS when a cert is given; the peer's
    public key checked against `pins` after each handshake (see `TrunkTlsContext`)."""
    ctx = TrunkTlsContext(ssl.PROTOCOL_TLS_CLIENT)  # as ssl.create_default_context() makes it
    ctx.verify_flags = _defaults().verify_flags
    ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.pins, ctx.pin_mode = tuple(p.lower() for p in pins), pin_mode
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
