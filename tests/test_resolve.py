"""RFC 3263 resolution against a DNS server on loopback that serves a test zone."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import dns.asyncresolver
import pytest

from tests.dnszone import DnsServer, serving_zone
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


@pytest.fixture
async def dns_server() -> AsyncIterator[tuple[DnsServer, dns.asyncresolver.Resolver]]:
    async with serving_zone(ZONE) as server:
        yield server, server.resolver()


def _first_v4(targets: list[Target]) -> Target:
    return next(t for t in targets if t.host == "127.0.0.1")


async def test_naptr_picks_tls_by_order_then_srv(dns_server: tuple[DnsServer, dns.asyncresolver.Resolver]) -> None:
    server, resolver = dns_server
    targets = await resolve(parse_uri("sip:carrier-a.test"), resolver=resolver)
    assert _first_v4(targets) == Target(Transport.TLS, "127.0.0.1", 5081, "carrier-a.test")
    assert server.queries[:2] == [("carrier-a.test.", "NAPTR"), ("_sips._tcp.carrier-a.test.", "SRV")]


async def test_srv_without_naptr_in_priority_order(dns_server: tuple[DnsServer, dns.asyncresolver.Resolver]) -> None:
    _, resolver = dns_server
    targets = await resolve(parse_uri("sip:carrier-b.test"), resolver=resolver, rng=random.Random(1))
    ports = [t.port for t in targets if t.host == "127.0.0.1"]
    assert ports == [5090, 5091]
    assert all(t.transport is Transport.UDP for t in targets)


async def test_explicit_transport_skips_naptr(dns_server: tuple[DnsServer, dns.asyncresolver.Resolver]) -> None:
    server, resolver = dns_server
    targets = await resolve(parse_uri("sip:carrier-b.test;transport=tcp"), resolver=resolver)
    assert _first_v4(targets) == Target(Transport.TCP, "127.0.0.1", 5095, "carrier-b.test")
    assert ("carrier-b.test.", "NAPTR") not in server.queries


async def test_no_records_fall_back_to_address_and_default_port(
        dns_server: tuple[DnsServer, dns.asyncresolver.Resolver]) -> None:
    _, resolver = dns_server
    targets = await resolve(parse_uri("sip:localhost"), resolver=resolver)
    assert _first_v4(targets) == Target(Transport.UDP, "127.0.0.1", 5060, "localhost")


async def test_explicit_port_uses_the_address_only() -> None:
    targets = await resolve(parse_uri("sips:localhost:5999"))
    assert _first_v4(targets) == Target(Transport.TLS, "127.0.0.1", 5999, "localhost")


async def test_ip_literal_needs_no_dns() -> None:
    assert await resolve(parse_uri("sips:127.0.0.1")) == [Target(Transport.TLS, "127.0.0.1", 5061, "127.0.0.1")]


async def test_unknown_host_is_a_resolve_error(dns_server: tuple[DnsServer, dns.asyncresolver.Resolver]) -> None:
    _, resolver = dns_server
    with pytest.raises(ResolveError, match=r"cannot resolve nowhere\.invalid"):
        await resolve(parse_uri("sip:nowhere.invalid"), resolver=resolver)


async def test_silent_dns_fails_within_the_deadline() -> None:
    async with serving_zone(ZONE, silent=True) as server:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ResolveError):
            await resolve(parse_uri("sip:carrier-a.test"), resolver=server.resolver(), timeout=0.5)
        assert loop.time() - started < 1.2
