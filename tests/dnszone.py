"""A DNS server on loopback serving a test zone (NAPTR, SRV, A, AAAA), for RFC 3263 tests.

dnspython parses and builds the messages; this only answers from a dict. Names not in the zone get
NXDOMAIN, so a resolver pointed here falls back to the system's for them (as trunkguard's does).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import dns.asyncresolver
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

Zone = dict[tuple[str, str], list[str]]  # (name with its final dot, type) -> records as zone-file text


class DnsServer(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone, silent: bool = False) -> None:
        self.zone = zone
        self.silent = silent
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: list[tuple[str, str]] = []
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.port = int(transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if self.silent:
            return
        response = dns.message.make_response(query)
        records = self.zone.get((name, rdtype))
        if records:
            response.answer.append(dns.rrset.from_text_list(name, 60, "IN", rdtype, records))
        elif not any(key[0] == name for key in self.zone):
            response.set_rcode(dns.rcode.NXDOMAIN)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)

    def resolver(self) -> dns.asyncresolver.Resolver:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.port
        resolver.lifetime = 1.0
        return resolver


@asynccontextmanager
async def serving_zone(zone: Zone, *, silent: bool = False) -> AsyncIterator[DnsServer]:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(lambda: DnsServer(zone, silent),
                                                            local_addr=("127.0.0.1", 0))
    try:
        yield server
    finally:
        transport.close()
