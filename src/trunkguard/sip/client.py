"""The user-agent client: non-INVITE client transactions (RFC 3261 17.1.2) over UDP, TCP and TLS.

A reply counts only when its top Via branch, Call-ID, CSeq number and method all match a pending
transaction, and it came from the address the request went to (UDP) or on the same connection
(TCP/TLS). Anything else is dropped and counted in `stats`, so a stray or spoofed reply can never
be taken as a trunk's health. Over UDP the request is retransmitted by Timer E (T1 doubling to
T2); every transaction ends at its own deadline, which a probe keeps far below Timer F's 32 s.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from heapq import heappop, heappush
from typing import NamedTuple

from trunkguard import __version__
from trunkguard.errors import SipParseError, TransportError
from trunkguard.sip.message import SipRequest, SipResponse, build_request, parse_message
from trunkguard.sip.transport import StreamConnection, UdpEndpoint, open_stream, open_udp
from trunkguard.sip.uri import Transport

T1 = 0.5
T2 = 4.0
TIMER_GRANULARITY = 0.002  # timers fire up to 2 ms late; T1 is 500 ms, a probe deadline 2 s
_RECENT_KEEP = 8192


class Target(NamedTuple):
    """A resolved next hop: transport, IP address, port, and the name TLS must verify.
    (A NamedTuple: immutable, and hashed in C on the hot path.)"""

    transport: Transport
    host: str
    port: int
    server_name: str | None = None

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.value}:{host}:{self.port}"


class Outcome(StrEnum):
    FINAL = "final"
    TIMEOUT = "timeout"
    ERROR = "error"


class TransactionResult(NamedTuple):
    """How one client transaction ended (a NamedTuple: immutable and cheap to make)."""

    outcome: Outcome
    response: SipResponse | None = None
    error: str | None = None
    rtt: float | None = None
    retransmissions: int = 0
    provisional: tuple[int, ...] = ()
    connect_s: float | None = None


@dataclass(slots=True)
class SipStats:
    """Counters for everything the client sent and received; `stray` and `malformed` were dropped."""

    sent: int = 0
    retransmitted: int = 0
    received: int = 0
    matched: int = 0
    duplicates: int = 0
    stray: int = 0
    malformed: int = 0
    requests_ignored: int = 0
    transport_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        """Every counter by name (for /metrics; spelt out: the compiled build has no `__slots__` to read)."""
        return {"sent": self.sent, "retransmitted": self.retransmitted, "received": self.received,
                "matched": self.matched, "duplicates": self.duplicates, "stray": self.stray,
                "malformed": self.malformed, "requests_ignored": self.requests_ignored,
                "transport_errors": self.transport_errors}


class _ClientTransaction:
    __slots__ = (
        "addr",
        "branch",
        "call_id",
        "conn",
        "connect_s",
        "cseq",
        "data",
        "deadline",
        "fire_at",
        "interval",
        "method",
        "on_done",
        "on_provisional",
        "provisional",
        "retransmissions",
        "retransmit",
        "sent_at",
        "seq",
        "target",
)

    def __init__(self, branch: str, call_id: str, cseq: int, method: str, data: bytes,
                 target: Target, conn: StreamConnection | None, deadline: float,
                 on_done: Callable[[TransactionResult], None], connect_s: float | None) -> None:
        self.branch = branch
        self.call_id = call_id
        self.cseq = cseq
        self.method = method
        self.data = data
        self.target = target
        self.addr = (target.host, target.port)
        self.conn = conn
        self.sent_at = 0.0
        self.deadline = deadline
        self.interval = T1
        self.fire_at = 0.0
        self.seq = 0
        self.on_provisional: Callable[[SipResponse], None] | None = None
        self.retransmit = True
        self.on_done = on_done
        self.retransmissions = 0
        self.provisional: tuple[int, ...] = ()
        self.connect_s = connect_s


@dataclass
class SipClient:
    """One UAC endpoint shared by all probes of a process. Use as `async with SipClient() as c`."""

    from_user: str = "trunkguard"
    user_agent: str = f"trunkguard/{__version__}"
    stats: SipStats = field(default_factory=SipStats)
    t1: float = T1
    t2: float = T2
    _pending: dict[str, _ClientTransaction] = field(default_factory=dict, repr=False)
    _recent: OrderedDict[str, None] = field(default_factory=OrderedDict, repr=False)
    _udp: dict[int, UdpEndpoint] = field(default_factory=dict, repr=False)
    _streams: dict[tuple[object, ...], StreamConnection] = field(default_factory=dict, repr=False)
    _connecting: dict[tuple[object, ...], asyncio.Future[StreamConnection]] = field(
        default_factory=dict, repr=False)
    _local_ip: dict[str, str] = field(default_factory=dict, repr=False)
    _prefix: str = field(default_factory=lambda: secrets.token_hex(6), repr=False)
    _counter: int = field(default=0, repr=False)
    _udp_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _via_cache: dict[tuple[Target, tuple[str, int]], tuple[str, str]] = field(default_factory=dict, repr=False)
    _timers: list[tuple[float, int, _ClientTransaction]] = field(default_factory=list, repr=False)
    _timer_handle: asyncio.TimerHandle | None = field(default=None, repr=False)
    _timer_at: float = field(default=float("inf"), repr=False)

    async def __aenter__(self) -> SipClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for tx in list(self._pending.values()):
            self._finish(tx, TransactionResult(Outcome.ERROR, error="client closed"))
        for endpoint in self._udp.values():
            if endpoint.transport is not None:
                endpoint.transport.close()
        for conn in self._streams.values():
            conn.close()
        self._udp.clear()
        self._streams.clear()
        if self._timer_handle is not None:
            self._timer_handle.cancel()
            self._timer_handle = None
        self._timers.clear()

    # ---- public API ----------------------------------------------------------------------

    async def request(self, target: Target, method: str, request_uri: str, *, timeout: float,
                      ssl_context: ssl.SSLContext | None = None, extra: str = "",
                      body: bytes = b"") -> TransactionResult:
        """Run one non-INVITE transaction to `target`; never raises for network trouble."""
        def begin(transport: UdpEndpoint | StreamConnection, deadline: float,
                  on_done: Callable[[TransactionResult], None], connect_s: float | None) -> None:
            self.start(target, method, request_uri, transport, deadline, on_done, extra, body, connect_s)

        return await self._run(target, ssl_context, timeout, begin)

    async def _run(self, target: Target, ssl_context: ssl.SSLContext | None, timeout: float,
                   begin: Callable[[UdpEndpoint | StreamConnection, float, Callable[[TransactionResult], None],
                                    float | None], None]) -> TransactionResult:
        """Open the transport within the deadline, start the transaction, await its one result."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            transport, connect_s = await self._transport_for(target, ssl_context, timeout)
        except TimeoutError:
            return TransactionResult(Outcome.TIMEOUT, error=f"no connection to {target} within {timeout:g}s")
        except TransportError as exc:
            self.stats.transport_errors += 1
            return TransactionResult(Outcome.ERROR, error=str(exc))
        future: asyncio.Future[TransactionResult] = loop.create_future()

        def on_done(result: TransactionResult) -> None:
            if not future.done():
                future.set_result(result)

        begin(transport, deadline, on_done, connect_s)
        return await future

    async def transport_for(self, target: Target, ssl_context: ssl.SSLContext | None = None,
                            timeout: float = 2.0) -> UdpEndpoint | StreamConnection:
        """The socket `start()` needs for `target`, opening or connecting it first."""
        transport, _ = await self._transport_for(target, ssl_context, timeout)
        return transport

    def start(self, target: Target, method: str, request_uri: str,
              transport: UdpEndpoint | StreamConnection, deadline: float,
              on_done: Callable[[TransactionResult], None], extra: str = "", body: bytes = b"",
              connect_s: float | None = None) -> None:
        """Start a transaction on an open transport; `on_done` gets exactly one result."""
        self._counter += 1
        n = self._counter
        # Branch and Call-ID: a 48-bit secret per client plus a counter. Unique, and unguessable
        # to anyone who cannot see our traffic (who could spoof nothing anyway); no syscall per request.
        branch = f"z9hG4bK{self._prefix}{n:x}"
        call_id = f"{self._prefix}{n:x}@trunkguard"
        local = transport.local
        key = (target, local)
        parts = self._via_cache.get(key)
        if parts is None:
            via_host = self._via_host(target, local)
            parts = (f"SIP/2.0/{target.transport.via_token} {via_host}:{local[1]}",
                     f"sip:{self.from_user}@{via_host}")
            self._via_cache[key] = parts
        data = build_request(method, request_uri, parts[0], branch, parts[1], f"{n:x}", request_uri, call_id, 1,
                             extra, body, 70, self.user_agent)
        conn = transport if isinstance(transport, StreamConnection) else None
        tx = _ClientTransaction(branch, call_id, 1, method, data, target, conn, deadline, on_done, connect_s)
        tx.seq = n
        self._begin(tx, transport)

    def start_prepared(self, target: Target, data: bytes, *, branch: str, call_id: str, cseq: int, method: str,
                       transport: UdpEndpoint | StreamConnection, deadline: float,
                       on_done: Callable[[TransactionResult], None],
                       on_provisional: Callable[[SipResponse], None] | None = None) -> None:
        """Start a transaction for a request the caller built (INVITE, in-dialog BYE, CANCEL).
        An INVITE stops retransmitting at its first provisional answer (Timer A, RFC 3261 17.1.1)."""
        self._counter += 1
        conn = transport if isinstance(transport, StreamConnection) else None
        tx = _ClientTransaction(branch, call_id, cseq, method, data, target, conn, deadline, on_done, None)
        tx.seq = self._counter
        tx.on_provisional = on_provisional
        self._begin(tx, transport)

    async def transact(self, target: Target, data: bytes, *, branch: str, call_id: str, cseq: int, method: str,
                       timeout: float, ssl_context: ssl.SSLContext | None = None,
                       on_provisional: Callable[[SipResponse], None] | None = None) -> TransactionResult:
        """`start_prepared` as a coroutine; never raises for network trouble."""
        def begin(transport: UdpEndpoint | StreamConnection, deadline: float,
                  on_done: Callable[[TransactionResult], None], _connect_s: float | None) -> None:
            self.start_prepared(target, data, branch=branch, call_id=call_id, cseq=cseq, method=method,
                                transport=transport, deadline=deadline, on_done=on_done,
                                on_provisional=on_provisional)

        return await self._run(target, ssl_context, timeout, begin)

    def send_oneway(self, target: Target, data: bytes) -> bool:
        """Send a request that has no transaction of its own (an ACK) on the open transport."""
        transport = self.open_transport(target)
        if transport is None:
            return False
        try:
            transport.send(data, (target.host, target.port))
        except (OSError, TransportError):
            self.stats.transport_errors += 1
            return False
        self.stats.sent += 1
        return True

    def local_address(self, target: Target) -> tuple[str, int] | None:
        """Our address as `target` sees it (for Via, Contact and SDP), once a transport is open."""
        transport = self.open_transport(target)
        if transport is None:
            return None
        host = self._via_host(target, transport.local)
        return host.strip("[]"), transport.local[1]

    def open_transport(self, target: Target) -> UdpEndpoint | StreamConnection | None:
        """The already-open socket that reaches `target` (the UDP endpoint, or a live stream); None
        until a request has opened one (`transport_for`)."""
        if target.transport is Transport.UDP:
            return self._udp.get(_family(target.host))
        return next((c for key, c in self._streams.items() if key[0] == target and not c.closed), None)

    def abandon(self, branch: str, reason: str) -> None:
        """End a pending transaction now, as a timeout (the caller has given up on it)."""
        tx = self._pending.get(branch)
        if tx is not None:
            self._finish(tx, TransactionResult(Outcome.TIMEOUT, error=reason, retransmissions=tx.retransmissions,
                                               provisional=tx.provisional))

    def provisional_of(self, branch: str) -> tuple[int, ...]:
        """The provisional codes a pending transaction has seen so far."""
        tx = self._pending.get(branch)
        return tx.provisional if tx is not None else ()

    def new_branch(self) -> str:
        self._counter += 1
        return f"z9hG4bK{self._prefix}{self._counter:x}"

    def new_tag(self) -> str:
        self._counter += 1
        return f"{self._prefix}{self._counter:x}"

    def _begin(self, tx: _ClientTransaction, transport: UdpEndpoint | StreamConnection) -> None:
        target, data, conn, deadline, branch = tx.target, tx.data, tx.conn, tx.deadline, tx.branch
        self._pending[_key(branch, tx.method)] = tx
        loop = asyncio.get_running_loop()
        tx.sent_at = time.perf_counter()
        try:
            transport.send(data, tx.addr)
        except (OSError, TransportError) as exc:
            self.stats.transport_errors += 1
            self._finish(tx, TransactionResult(Outcome.ERROR, error=f"send to {target} failed: {exc}"))
            return
        self.stats.sent += 1
        if conn is None:
            tx.interval = self.t1
            self._arm(tx, min(loop.time() + tx.interval, deadline), loop)
        else:
            self._arm(tx, deadline, loop)

    # ---- receiving -----------------------------------------------------------------------

    def _on_message(self, data: bytes, source: tuple[str, int], conn: StreamConnection | None = None) -> None:
        """Every received message, from UDP (conn None) or a stream; the hot path of the client."""
        self.stats.received += 1
        try:
            message = parse_message(data)
        except SipParseError:
            self.stats.malformed += 1
            return
        if isinstance(message, SipRequest):
            self.stats.requests_ignored += 1
            return
        branch = message.via_branch
        tx = self._pending.get(_key(branch, message.cseq_method)) if branch else None
        if tx is None:
            if branch in self._recent:
                self.stats.duplicates += 1
            else:
                self.stats.stray += 1
            return
        if (message.call_id != tx.call_id or message.cseq_num != tx.cseq
                or message.cseq_method != tx.method
                or (conn is not tx.conn if tx.conn is not None else source[:2] != tx.addr)):
            self.stats.stray += 1
            return
        self.stats.matched += 1
        if message.status < 200:
            tx.provisional += (message.status,)
            if tx.on_provisional is not None:
                tx.on_provisional(message)
            if tx.conn is None:  # Proceeding: an INVITE stops retransmitting, others go on at T2
                if tx.method == "INVITE":
                    tx.retransmit = False
                else:
                    tx.interval = self.t2
            return
        rtt = time.perf_counter() - tx.sent_at
        self._finish(tx, TransactionResult(Outcome.FINAL, message, None, rtt, tx.retransmissions,
                                           tx.provisional, tx.connect_s))

    # ---- timers: one heap and one loop timer for all transactions -------------------------

    def _arm(self, tx: _ClientTransaction, at: float, loop: asyncio.AbstractEventLoop) -> None:
        tx.fire_at = at
        heappush(self._timers, (at, tx.seq, tx))
        if at < self._timer_at:
            self._schedule(at, loop)

    def _schedule(self, at: float, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer_handle is not None:
            self._timer_handle.cancel()
        at = max(at, loop.time() + TIMER_GRANULARITY)
        self._timer_at = at
        self._timer_handle = loop.call_at(at, self._on_timers)

    def _on_timers(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer_handle = None
        self._timer_at = float("inf")
        now = loop.time()
        heap = self._timers
        while heap and heap[0][0] <= now + TIMER_GRANULARITY / 2:
            at, _, tx = heappop(heap)
            if tx.fire_at == at and self._pending.get(_key(tx.branch, tx.method)) is tx:  # else: stale
                self._fire(tx, now, loop)
        if heap:
            self._schedule(heap[0][0], loop)

    def _fire(self, tx: _ClientTransaction, now: float, loop: asyncio.AbstractEventLoop) -> None:
        if now >= tx.deadline - TIMER_GRANULARITY or tx.conn is not None:
            self._finish(tx, TransactionResult(Outcome.TIMEOUT, error="no final response before the deadline",
                                               retransmissions=tx.retransmissions,
                                               provisional=tx.provisional, connect_s=tx.connect_s))
            return
        endpoint = self._udp.get(_family(tx.target.host)) if tx.retransmit else None
        if endpoint is not None:
            try:
                endpoint.send(tx.data, tx.addr)
                tx.retransmissions += 1
                self.stats.retransmitted += 1
            except OSError:
                self.stats.transport_errors += 1
        tx.interval = min(tx.interval * 2, self.t2)
        self._arm(tx, min(now + tx.interval, tx.deadline), loop)

    def _finish(self, tx: _ClientTransaction, result: TransactionResult) -> None:
        if self._pending.pop(_key(tx.branch, tx.method), None) is None:
            return
        if tx.retransmissions:  # only a retransmitted request can draw a duplicate answer
            recent = self._recent
            recent[tx.branch] = None
            if len(recent) > _RECENT_KEEP:
                recent.popitem(last=False)
        tx.fire_at = -1.0  # its heap entries are stale now
        self._prune_timers()
        tx.on_done(result)

    def _prune_timers(self) -> None:
        """Drop stale entries from the top of the heap and re-arm the loop timer for the first live
        one, so a finished transaction's retransmission timer never wakes the loop (on a busy prober
        most transactions finish long before their Timer E: each stale wake-up costs a loop cycle)."""
        heap = self._timers
        top = heap[0][0] if heap else float("inf")
        while heap and heap[0][2].fire_at != heap[0][0]:
            heappop(heap)
        if not heap:
            if self._timer_handle is not None:
                self._timer_handle.cancel()
                self._timer_handle = None
                self._timer_at = float("inf")
        elif heap[0][0] > top and self._timer_handle is not None:
            self._schedule(heap[0][0], asyncio.get_running_loop())

    def _on_stream_lost(self, conn: StreamConnection, why: str) -> None:
        for key, known in list(self._streams.items()):
            if known is conn:
                del self._streams[key]
        for tx in [t for t in self._pending.values() if t.conn is conn]:
            self._finish(tx, TransactionResult(Outcome.ERROR, error=why, connect_s=tx.connect_s))

    def _on_udp_error(self, exc: Exception) -> None:
        self.stats.transport_errors += 1

    def _on_malformed(self) -> None:
        self.stats.malformed += 1

    # ---- transports ----------------------------------------------------------------------

    async def _transport_for(self, target: Target, ssl_context: ssl.SSLContext | None,
                             timeout: float) -> tuple[UdpEndpoint | StreamConnection, float | None]:
        if target.transport is Transport.UDP:
            family = _family(target.host)
            endpoint = self._udp.get(family)
            if endpoint is None:
                async with self._udp_lock:
                    endpoint = self._udp.get(family)
                    if endpoint is None:
                        endpoint = await open_udp(family, self._on_message, self._on_udp_error)
                        self._udp[family] = endpoint
            return endpoint, None
        if target.transport is Transport.TLS and ssl_context is None:
            raise TransportError(f"{target} needs a TLS context")
        key = (target, id(ssl_context) if target.transport is Transport.TLS else None)
        conn = self._streams.get(key)
        if conn is not None and not conn.closed:
            return conn, None
        waiting = self._connecting.get(key)
        if waiting is not None:
            return await asyncio.shield(waiting), None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StreamConnection] = loop.create_future()
        self._connecting[key] = future
        started = time.perf_counter()
        try:
            conn = await open_stream(
                target.host, target.port,
                ssl_context=ssl_context if target.transport is Transport.TLS else None,
                server_name=target.server_name, on_message=self._on_message,
                on_lost=self._on_stream_lost, on_malformed=self._on_malformed, timeout=timeout)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._connecting[key]
        self._streams[key] = conn
        future.set_result(conn)
        return conn, time.perf_counter() - started

    def _via_host(self, target: Target, local: tuple[str, int]) -> str:
        """The address the peer can reach us at: the socket's own, or the route's source."""
        host = local[0]
        if host in ("0.0.0.0", "::"):
            cached = self._local_ip.get(target.host)
            if cached is None:
                cached = _route_source(target.host)
                self._local_ip[target.host] = cached
            host = cached
        return f"[{host}]" if ":" in host else host


def _key(branch: str, method: str) -> str:
    """Pending transactions by branch; a CANCEL shares its INVITE's branch (RFC 3261 9.1), so it
    is kept under a key of its own."""
    return branch + "|CANCEL" if method == "CANCEL" else branch


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _route_source(host: str) -> str:
    """The local address the kernel would send from to reach `host` (no packet is sent)."""
    family = _family(host)
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "::1" if family == socket.AF_INET6 else "127.0.0.1"
