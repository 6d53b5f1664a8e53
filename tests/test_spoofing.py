"""Replies that do not match the transaction are dropped and counted, never taken as health."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from trunkguard.probing.result import ProbeStatus
from trunkguard.probing.sip_options import OptionsCheck, probe_options
from trunkguard.sip.client import SipClient
from trunkguard.sip.message import SipRequest, build_response, parse_message
from trunkguard.sip.uri import parse_uri

Mutate = Callable[[bytes], bytes]


class _Peer(asyncio.DatagramProtocol):
    """A UDP peer that answers each request with a tampered 200, optionally from another socket."""

    def __init__(self, mutate: Mutate, reply_from: socket.socket | None) -> None:
        self.mutate = mutate
        self.reply_from = reply_from
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = parse_message(data)
        assert isinstance(request, SipRequest)
        reply = self.mutate(build_response(request, 200, "OK", to_tag="spoof"))
        if self.reply_from is not None:
            self.reply_from.sendto(reply, addr)
        else:
            assert self.transport is not None
            self.transport.sendto(reply, addr)


def _swap(field: bytes, new: bytes) -> Mutate:
    def mutate(data: bytes) -> bytes:
        head, sep, rest = data.partition(field)
        _, _, tail = rest.partition(b"\r\n")
        return head + sep + new + b"\r\n" + tail
    return mutate


async def _probe_through(mutate: Mutate, *, other_source: bool = False) -> tuple[ProbeStatus, int, int, int]:
    loop = asyncio.get_running_loop()
    other = None
    if other_source:
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.bind(("127.0.0.2", 0))
    transport, _ = await loop.create_datagram_endpoint(lambda: _Peer(mutate, other), local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        async with SipClient() as client:
            result = await probe_options(client, OptionsCheck("peer", parse_uri(f"sip:127.0.0.1:{port}"), timeout=0.8))
            return result.status, client.stats.stray, client.stats.matched, client.stats.malformed
    finally:
        transport.close()
        if other is not None:
            other.close()


async def test_honest_peer_control_case() -> None:
    """The same peer without tampering is ok: the spoofing tests below fail only by the tampering."""
    status, stray, matched, malformed = await _probe_through(lambda data: data)
    assert (status, stray, matched, malformed) == (ProbeStatus.OK, 0, 1, 0)


@pytest.mark.parametrize(
    ("name", "mutate"),
    [
        ("wrong branch", _swap(b"branch=", b"z9hG4bKforged;rport")),
        ("wrong Call-ID", _swap(b"Call-ID: ", b"forged@elsewhere")),
        ("wrong CSeq number", _swap(b"CSeq: ", b"2 OPTIONS")),
        ("wrong CSeq method", _swap(b"CSeq: ", b"1 INVITE")),
    ],
)
async def test_mismatched_reply_never_counts(name: str, mutate: Mutate) -> None:
    status, stray, matched, _ = await _probe_through(mutate)
    assert status is ProbeStatus.TIMEOUT, name
    assert stray >= 1 and matched == 0


async def test_reply_from_another_address_never_counts() -> None:
    """A correct reply (right branch, Call-ID, CSeq) from 127.0.0.2 instead of 127.0.0.1."""
    status, stray, matched, _ = await _probe_through(lambda data: data, other_source=True)
    assert status is ProbeStatus.TIMEOUT
    assert stray >= 1 and matched == 0


async def test_garbage_is_counted_as_malformed() -> None:
    status, stray, matched, malformed = await _probe_through(lambda data: b"\x00garbage" + data[:20])
    assert status is ProbeStatus.TIMEOUT
    assert malformed >= 1 and stray == 0 and matched == 0
