"""RFC 3263 resolution against a DNS server on loopback that serves a test zone."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import dns.asyncresolver
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from trunkguard.errors import ResolveError
from trunkguard.sip.client import Target
from trunkguard.sip.resolve import resolve
from trunkguard.sip.uri import Transport, parse_uri

ZONE: dict[tuple[str, str], list[str]] = {
    ("carrier-a.test.", "NAPTR"): ['20 10 "s" "SIP+D2U" "" _sip._udp.carrier-a.test.',
                                   '10 10 "s" "SIPS+D2T" "" _sips._tcp.carrier-a.test.'],
    ("_sips._tcp.carrier-a.test.", "SRV"): ["10 0 5081 localhost."],
    ("_sip._udp.carrier-a.test.", "SRV"): ["10 0 5080 localhost."],
    ("_sip._udp.carrier-b.test.", "SRV"): ["20 0 5091 localhost.", "10 0 5090 localhost."],
    ("_sip._tcp.carrier-b.test.", "SRV"): ["10 0 5095 localhost."],
}


class _DnsServer(asyncio.DatagramProtocol):
    def __init__(self, silent: bool = False) -> None:
        self.silent = silent
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: list[tuple[str, str]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if self.silent:
            return
        response = dns.message.make_response(query)
        records = ZONE.get((name, rdtype))
        if records:
            response.answer.append(dns.rrset.from_text_list(name, 60, "IN", rdtype, records))
        elif not any(key[0] == name for key in ZONE):
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


async def _start(silent: bool = False) -> tuple[asyncio.DatagramTransport, _DnsServer, dns.asyncresolver.Resolver]:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(lambda: _DnsServer(silent), local_addr=("127.0.0.1", 0))
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = transport.get_extra_info("sockname")[1]
    resolver.lifetime = 1.0
    return transport, server, resolver


@pytest.fixture
async def dns_server() -> AsyncIterator[tuple[_DnsServer, dns.asyncresolver.Resolver]]:
    transport, server, resolver = await _start()
    yield server, resolver
    transport.close()


def _first_v4(targets: list[Target]) -> Target:
    return next(t for t in targets if t.host == "127.0.0.1")


async def test_naptr_picks_tls_by_order_then_srv(dns_server: tuple[_DnsServer, dns.asyncresolver.Resolver]) -> None:
    server, resolver = dns_server
    targets = await resolve(parse_uri("sip:carrier-a.test"), resolver=resolver)
    assert _first_v4(targets) == Target(Transport.TLS, "127.0.0.1", 5081, "carrier-a.test")
    assert server.queries[:2] == [("carrier-a.test.", "NAPTR"), ("_sips._tcp.carrier-a.test.", "SRV")]


async def test_srv_without_naptr_in_priority_order(dns_server: tuple[_DnsServer, dns.asyncresolver.Resolver]) -> None:
    _, resolver = dns_server
    targets = await resolve(parse_uri("sip:carrier-b.test"), resolver=resolver, rng=random.Random(1))
    ports = [t.port for t in targets if t.host == "127.0.0.1"]
    assert ports == [5090, 5091]
    assert all(t.transport is Transport.UDP for t in targets)


async def test_explicit_transport_skips_naptr(dns_server: tuple[_DnsServer, dns.asyncresolver.Resolver]) -> None:
    server, resolver = dns_server
    targets = await resolve(parse_uri("sip:carrier-b.test;transport=tcp"), resolver=resolver)
    assert _first_v4(targets) == Target(Transport.TCP, "127.0.0.1", 5095, "carrier-b.test")
    assert ("carrier-b.test.", "NAPTR") not in server.queries


async def test_no_records_fall_back_to_address_and_default_port(
        dns_server: tuple[_DnsServer, dns.asyncresolver.Resolver]) -> None:
    _, resolver = dns_server
    targets = await resolve(parse_uri("sip:localhost"), resolver=resolver)
    assert _first_v4(targets) == Target(Transport.UDP, "127.0.0.1", 5060, "localhost")


async def test_explicit_port_uses_the_address_only() -> None:
    targets = await resolve(parse_uri("sips:localhost:5999"))
    assert _first_v4(targets) == Target(Transport.TLS, "127.0.0.1", 5999, "localhost")


async def test_ip_literal_needs_no_dns() -> None:
    assert await resolve(parse_uri("sips:127.0.0.1")) == [Target(Transport.TLS, "127.0.0.1", 5061, "127.0.0.1")]


async def test_unknown_host_is_a_resolve_error(dns_server: tuple[_DnsServer, dns.asyncresolver.Resolver]) -> None:
    _, resolver = dns_server
    with pytest.raises(ResolveError, match=r"cannot resolve nowhere\.invalid"):
        await resolve(parse_uri("sip:nowhere.invalid"), resolver=resolver)


async def test_silent_dns_fails_within_the_deadline() -> None:
    transport, _, resolver = await _start(silent=True)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ResolveError):
            await resolve(parse_uri("sip:carrier-a.test"), resolver=resolver, timeout=0.5)
        assert loop.time() - started < 1.2
    finally:
        transport.close()
