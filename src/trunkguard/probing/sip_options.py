"""The SIP OPTIONS probe: is the trunk's signalling alive?

Resolution, connection and the transaction all share one deadline (the trunk's probe timeout, 2 s
by default), so a dead peer is reported as a timeout at that deadline, not after Timer F's 32 s.
A final answer inside the trunk's alive codes is ok; any other final answer is `rejected`.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import dns.asyncresolver

from trunkguard.codes import ALIVE_DEFAULT, CodeSet
from trunkguard.config import CarrierConfig, TrunkConfig
from trunkguard.errors import ResolveError
from trunkguard.probing.result import ProbeResult, ProbeStatus
from trunkguard.sip.client import Outcome, SipClient
from trunkguard.sip.resolve import resolve
from trunkguard.sip.transport import client_tls_context
from trunkguard.sip.uri import SipUri, Transport

KIND = "sip_options"


@dataclass(frozen=True)
class OptionsCheck:
    """Everything one OPTIONS probe of a trunk needs."""

    name: str
    uri: SipUri
    alive_codes: CodeSet = ALIVE_DEFAULT
    timeout: float = 2.0
    ssl_context: ssl.SSLContext | None = None

    @functools.cached_property
    def uri_text(self) -> str:
        """The request URI as sent (built once: every probe of the trunk uses it)."""
        return str(self.uri)

    @classmethod
    def for_trunk(cls, carrier: CarrierConfig, trunk: TrunkConfig) -> OptionsCheck:
        return cls(trunk.name, trunk.sip_uri, trunk.alive_codes, carrier.health_of(trunk).timeout,
                   trunk_tls_context(trunk))


def trunk_tls_context(trunk: TrunkConfig) -> ssl.SSLContext | None:
    """The client TLS context a trunk's settings ask for; None for UDP and TCP trunks."""
    if trunk.sip_uri.transport is not Transport.TLS:
        return None
    tls = trunk.tls_settings
    return client_tls_context(ca_file=tls.ca_file, cert_file=tls.cert_file, key_file=tls.key_file,
                              verify=tls.verify)


async def probe_options(client: SipClient, check: OptionsCheck, *,
                        resolver: dns.asyncresolver.Resolver | None = None,
                        clock: Callable[[], float] = time.time) -> ProbeResult:
    started_at = clock()
    begin = time.perf_counter()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + check.timeout
    target_text = check.uri_text

    def result(status: ProbeStatus, **kw: object) -> ProbeResult:
        phases = kw.pop("phases", {})
        assert isinstance(phases, dict)
        phases["total"] = round((time.perf_counter() - begin) * 1000, 3)
        return ProbeResult(KIND, check.name, target_text, status, started_at,
                           phases=MappingProxyType(phases), **kw)  # type: ignore[arg-type]

    try:
        targets = await resolve(check.uri, timeout=check.timeout, resolver=resolver)
    except ResolveError as exc:
        timed_out = "longer than" in str(exc)
        return result(ProbeStatus.TIMEOUT if timed_out else ProbeStatus.ERROR, reason=str(exc))
    resolve_ms = round((time.perf_counter() - begin) * 1000, 3)
    target = targets[0]
    remaining = deadline - loop.time()
    if remaining <= 0:
        return result(ProbeStatus.TIMEOUT, reason="resolution used the whole deadline",
                      phases={"resolve": resolve_ms})
    tx = await client.request(target, "OPTIONS", target_text, timeout=remaining,
                              ssl_context=check.ssl_context)  # reports network trouble, never raises it
    phases = {"resolve": resolve_ms}
    if tx.connect_s is not None:
        phases["connect"] = round(tx.connect_s * 1000, 3)
    facts: dict[str, object] = {"peer": str(target), "targets": len(targets),
                                "retransmissions": tx.retransmissions}
    if tx.outcome is Outcome.TIMEOUT:
        return result(ProbeStatus.TIMEOUT, reason=f"no answer within {check.timeout:g}s",
                      phases=phases, facts=MappingProxyType(facts))
    if tx.outcome is Outcome.ERROR or tx.response is None:
        return result(ProbeStatus.ERROR, reason=tx.error, phases=phases, facts=MappingProxyType(facts))
    response = tx.response
    rtt_ms = round((tx.rtt or 0.0) * 1000, 3)
    phases["transaction"] = rtt_ms
    server = response.header("server") or response.header("user-agent")
    if server:
        facts["server"] = server
    status = ProbeStatus.OK if response.status in check.alive_codes else ProbeStatus.REJECTED
    return result(status, code=response.status, reason=response.reason, rtt_ms=rtt_ms,
                  phases=phases, facts=MappingProxyType(facts))
