"""RFC 3263 server location: which transport, address and port a SIP URI reaches.

- An IP address: that address, the URI's port or the transport's default (5060, 5061 for TLS).
- A host name with a port: its A/AAAA records (through the system resolver, so /etc/hosts works).
- A host name without a port: NAPTR (when no transport is named) to choose the transport, then
  SRV (`_sip._udp`, `_sip._tcp`, `_sips._tcp`) in priority/weight order, then A/AAAA fallback.
NAPTR and SRV come from dnspython, the one maintained resolver with NAPTR support on asyncio.
Every step shares one deadline; failures become ResolveError.

Every target is returned, in the order RFC 3263 says to try them: the OPTIONS probe asks each one
(a carrier whose second SBC is dead is not reported by whichever comes first). With configured
name servers (`dns.nameservers`), addresses are looked up there too, falling back to the system's
resolver (and so /etc/hosts) only for names those servers do not know. Answers are cached for their
TTL, so a probe every 15 s does not query DNS every 15 s.
"""

from __future__ import annotations

import asyncio
import functools
import random
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING

from trunkguard.errors import ResolveError
from trunkguard.sip.client import Target
from trunkguard.sip.uri import SipUri, Transport

if TYPE_CHECKING:  # dnspython takes 32 ms to import: only once a name is resolved (`probe` of an IP never does)
    import dns.asyncresolver
    import dns.rdata
    from dns.rdtypes.IN.SRV import SRV

DEFAULT_PORT = {Transport.UDP: 5060, Transport.TCP: 5060, Transport.TLS: 5061}
_NAPTR_SERVICES = {"SIP+D2U": Transport.UDP, "SIP+D2T": Transport.TCP, "SIPS+D2T": Transport.TLS}
_SRV_PREFIX = {Transport.UDP: "_sip._udp", Transport.TCP: "_sip._tcp", Transport.TLS: "_sips._tcp"}


def make_resolver(nameservers: Sequence[tuple[str, int]] = ()) -> dns.asyncresolver.Resolver:
    """A resolver with a TTL cache: the system's (/etc/resolv.conf), or these servers only.
    Raises ResolveError when the system has no resolver configuration."""
    import dns.asyncresolver
    import dns.exception
    import dns.nameserver
    import dns.resolver

    try:
        resolver = dns.asyncresolver.Resolver(configure=not nameservers)
    except dns.exception.DNSException as exc:  # no /etc/resolv.conf, say
        raise ResolveError(f"no DNS resolver configured: {exc}") from None
    if nameservers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in nameservers]
    resolver.cache = dns.resolver.Cache()
    return resolver


@functools.cache
def _system_resolver() -> dns.asyncresolver.Resolver:
    """Built once, when DNS is first needed (it reads /etc/resolv.conf), with one cache per process."""
    return make_resolver()


def literal_target(uri: SipUri) -> Target:
    """The one target of a URI whose host is an IP address."""
    return Target(uri.transport, uri.host, uri.port or DEFAULT_PORT[uri.transport], uri.host)


async def resolve(uri: SipUri, *, timeout: float = 2.0,
                  resolver: dns.asyncresolver.Resolver | None = None,
                  rng: random.Random | None = None) -> list[Target]:
    """All targets for `uri`, in the order to try them. Raises ResolveError.
    `resolver`: configured name servers, asked for addresses too; None: the system's."""
    if uri.is_ip:  # nothing to look up: no timer, no task (this runs for every probe)
        return [literal_target(uri)]
    try:
        async with asyncio.timeout(timeout):
            return await _resolve(uri, resolver, rng or random.Random())
    except TimeoutError:
        raise ResolveError(f"resolving {uri.hostport} took longer than {timeout:g}s") from None


async def _resolve(uri: SipUri, resolver: dns.asyncresolver.Resolver | None, rng: random.Random) -> list[Target]:
    transport = uri.transport
    if uri.is_ip:
        return [literal_target(uri)]
    if uri.port is not None:
        return [Target(transport, ip, uri.port, uri.host) for ip in await _addresses(uri.host, resolver)]
    own = resolver
    if resolver is None:
        resolver = _system_resolver()
    transports: Sequence[tuple[Transport, str | None]]
    if uri.explicit_transport:
        transports = [(transport, None)]
    else:
        transports = await _naptr(uri.host, resolver) or [(Transport.UDP, None)]
    for choice, replacement in transports:
        name = replacement or f"{_SRV_PREFIX[choice]}.{uri.host}"
        targets = await _srv(name, choice, uri.host, resolver, own, rng)
        if targets:
            return targets
    first = transports[0][0]
    return [Target(first, ip, DEFAULT_PORT[first], uri.host) for ip in await _addresses(uri.host, own)]


async def _naptr(host: str, resolver: dns.asyncresolver.Resolver) -> list[tuple[Transport, str | None]]:
    from dns.rdtypes.IN.NAPTR import NAPTR

    answer = await _query(resolver, host, "NAPTR")
    records = sorted((r for r in answer if isinstance(r, NAPTR)), key=lambda r: (r.order, r.preference))
    found: list[tuple[Transport, str | None]] = []
    for record in records:
        service = record.service.decode().upper()
        if record.flags.decode().lower() == "s" and service in _NAPTR_SERVICES:
            found.append((_NAPTR_SERVICES[service], record.replacement.to_text(omit_final_dot=True)))
    return found


async def _srv(name: str, transport: Transport, host: str, resolver: dns.asyncresolver.Resolver,
               own: dns.asyncresolver.Resolver | None, rng: random.Random) -> list[Target]:
    from dns.rdtypes.IN.SRV import SRV

    records = [r for r in await _query(resolver, name, "SRV") if isinstance(r, SRV)]
    targets: list[Target] = []
    for record in _srv_order(records, rng):
        target_host = record.target.to_text(omit_final_dot=True)
        if target_host in ("", "."):
            continue
        try:
            addresses = await _addresses(target_host, own)
        except ResolveError:
            continue
        targets.extend(Target(transport, ip, record.port, host) for ip in addresses)
    return targets


def _srv_order(records: list[SRV], rng: random.Random) -> list[SRV]:
    """RFC 2782: ascending priority; within one priority, a weighted random order."""
    ordered: list[SRV] = []
    for priority in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == priority]
        while group:
            total = sum(r.weight for r in group)
            pick = rng.uniform(0, total) if total else 0
            running = 0
            for r in group:
                running += r.weight
                if running >= pick:
                    break
            group.remove(r)
            ordered.append(r)
    return ordered


async def _query(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> list[dns.rdata.Rdata]:
    import dns.exception
    import dns.resolver

    try:
        return list(await resolver.resolve(name, rdtype))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:
        raise ResolveError(f"DNS {rdtype} lookup of {name} failed: {exc}") from exc


async def _addresses(host: str, resolver: dns.asyncresolver.Resolver | None = None) -> list[str]:
    """A and AAAA: from the configured servers when there are any, else (or when they do not know
    the name) from the system's resolver, so /etc/hosts works."""
    if resolver is not None:
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            found.extend(r.to_text() for r in await _query(resolver, host, rdtype))
        if found:
            return list(dict.fromkeys(found))
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise ResolveError(f"cannot resolve {host}: {exc.strerror}") from exc
    seen: list[str] = []
    for family, *_rest, sockaddr in infos:
        ip = str(sockaddr[0])
        if family in (socket.AF_INET, socket.AF_INET6) and ip not in seen:
            seen.append(ip)
    if not seen:
        raise ResolveError(f"{host} has no IPv4 or IPv6 address")
    return seen
