"""The SIP OPTIONS probe: is the trunk's signalling alive, at every address its name resolves to?

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
from typing import TYPE_CHECKING, Literal

from trunkguard.codes import ALIVE_DEFAULT, CodeSet
from trunkguard.errors import ResolveError
from trunkguard.probing.result import ProbeResult, ProbeStatus
from trunkguard.probing.tls_files import CONTEXTS as TLS_CONTEXTS
from trunkguard.probing.tls_files import TlsFiles
from trunkguard.sip.client import Outcome, SipClient, Target, TransactionResult
from trunkguard.sip.resolve import resolve
from trunkguard.sip.transport import StreamConnection, UdpEndpoint
from trunkguard.sip.uri import SipUri

if TYPE_CHECKING:  # dnspython (32 ms to import) only once a name is resolved
    import dns.asyncresolver

KIND = "sip_options"
MAX_TARGETS = 16  # addresses probed per trunk; a name with more is a misconfiguration, not a carrier


@dataclass(frozen=True)
class OptionsCheck:
    """Everything one OPTIONS probe of a trunk needs."""

    name: str
    uri: SipUri
    alive_codes: CodeSet = ALIVE_DEFAULT
    timeout: float = 2.0
    ssl_context: ssl.SSLContext | None = None
    targets: Literal["any", "all"] = "any"  # which of a name's targets must answer

    @functools.cached_property
    def uri_text(self) -> str:
        """The request URI as sent (built once: every probe of the trunk uses it)."""
        return str(self.uri)



def tls_context(files: TlsFiles | None) -> ssl.SSLContext | None:
    """The client TLS context a trunk's TLS settings ask for, from the files as they are now (re-read when
    they change, probing/tls_files.py), with its pins; None for UDP and TCP trunks (no files)."""
    return None if files is None else TLS_CONTEXTS.context(files)


async def probe_options(client: SipClient, check: OptionsCheck, *,
                        resolver: dns.asyncresolver.Resolver | None = None,
                        clock: Callable[[], float] = time.time,
                        on_alive: Callable[[], None] | None = None) -> ProbeResult:
    """Probe the trunk at every address its URI resolves to (RFC 3263), all at once within the one
    deadline. An IP literal is one target; a name gives each target's result in `targets`, and the
    trunk's result follows `check.targets`: any target alive, or all of them. `on_alive` is called
    as soon as that is known (a dead second SBC still takes the whole deadline to time out)."""
    started_at = clock()
    begin = time.perf_counter()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + check.timeout
    try:
        targets = await resolve(check.uri, timeout=check.timeout, resolver=resolver)
    except ResolveError as exc:
        timed_out = "longer than" in str(exc)
        return _result(check, check.uri_text, ProbeStatus.TIMEOUT if timed_out else ProbeStatus.ERROR,
                       started_at, begin, reason=str(exc))
    resolve_ms = round((time.perf_counter() - begin) * 1000, 3)
    remaining = deadline - loop.time()
    if remaining <= 0:
        return _result(check, check.uri_text, ProbeStatus.TIMEOUT, started_at, begin,
                       reason="resolution used the whole deadline", phases={"resolve": resolve_ms})
    if check.uri.is_ip:  # the hot path: one address, nothing to tell apart
        result = await _ask(client, check, targets[0], remaining, check.uri_text, started_at, begin, resolve_ms)
        if on_alive is not None and result.success:
            on_alive()
        return result
    targets = targets[:MAX_TARGETS]
    need = 1 if check.targets == "any" else len(targets)
    alive = 0

    async def ask(target: Target) -> ProbeResult:
        nonlocal alive
        result = await _ask(client, check, target, remaining, str(target), started_at, begin, resolve_ms)
        if result.success:
            alive += 1
            if alive == need and on_alive is not None:
                on_alive()
        return result

    results = tuple(await asyncio.gather(*(ask(t) for t in targets)))
    return combine(check, results, started_at, begin)


def combine(check: OptionsCheck, results: tuple[ProbeResult, ...], started_at: float, begin: float) -> ProbeResult:
    """The trunk's result from its targets' (in RFC 3263 order): under `any`, the first target that
    answered alive, else the first; under `all`, the first that did not, else the first."""
    answered = [r for r in results if r.success]
    if check.targets == "any":
        base = answered[0] if answered else results[0]
    else:
        base = next((r for r in results if not r.success), results[0])
    reason = base.reason
    if len(results) > 1:
        reason = f"{reason or base.status.value}; {len(answered)} of {len(results)} targets answer"
    facts = {**base.facts, "targets": len(results)}
    return ProbeResult(KIND, check.name, check.uri_text, base.status, started_at, code=base.code, reason=reason,
                       rtt_ms=base.rtt_ms, phases=MappingProxyType({**base.phases, "total": _ms_since(begin)}),
                       facts=MappingProxyType(facts), targets=results)


async def _ask(client: SipClient, check: OptionsCheck, target: Target, timeout: float, shown: str,
               started_at: float, begin: float, resolve_ms: float) -> ProbeResult:
    """One OPTIONS transaction to one target, as a ProbeResult named `shown`."""
    tx = await client.request(target, "OPTIONS", check.uri_text, timeout=timeout,
                              ssl_context=check.ssl_context)  # reports network trouble, never raises it
    return _judge(check, tx, target, shown, started_at, begin, resolve_ms)


def send_options(client: SipClient, check: OptionsCheck, target: Target, transport: UdpEndpoint | StreamConnection,
                 on_result: Callable[[ProbeResult], None], *, clock: Callable[[], float] = time.time) -> None:
    """The probe of an IP-literal trunk whose transport is already open, without a task or a coroutine:
    the transaction starts now and `on_result` gets the judged result (the daemon's hot path: a
    thousand trunks per carrier is 133 probes a second)."""
    started_at, begin = clock(), time.perf_counter()

    def done(tx: TransactionResult) -> None:
        on_result(_judge(check, tx, target, check.uri_text, started_at, begin, 0.0))

    deadline = asyncio.get_running_loop().time() + check.timeout
    client.start(target, "OPTIONS", check.uri_text, transport, deadline, done)


def _judge(check: OptionsCheck, tx: TransactionResult, target: Target, shown: str, started_at: float, begin: float,
          resolve_ms: float) -> ProbeResult:
    """What one transaction's outcome means for the trunk: ok for an alive code, else why not."""
    phases = {"resolve": resolve_ms}
    if tx.connect_s is not None:
        phases["connect"] = round(tx.connect_s * 1000, 3)
    facts: dict[str, object] = {"peer": str(target), "retransmissions": tx.retransmissions}
    if tx.outcome is Outcome.TIMEOUT:
        return _result(check, shown, ProbeStatus.TIMEOUT, started_at, begin, reason=f"no answer within "
                       f"{check.timeout:g}s", phases=phases, facts=facts)
    if tx.outcome is Outcome.ERROR or tx.response is None:
        return _result(check, shown, ProbeStatus.ERROR, started_at, begin, reason=tx.error, phases=phases,
                       facts=facts)
    response = tx.response
    rtt_ms = round((tx.rtt or 0.0) * 1000, 3)
    phases["transaction"] = rtt_ms
    server = response.header("server") or response.header("user-agent")
    if server:
        facts["server"] = server
    status = ProbeStatus.OK if response.status in check.alive_codes else ProbeStatus.REJECTED
    return _result(check, shown, status, started_at, begin, code=response.status, reason=response.reason,
                   rtt_ms=rtt_ms, phases=phases, facts=facts)


def _result(check: OptionsCheck, shown: str, status: ProbeStatus, started_at: float, begin: float, *,
            code: int | None = None, reason: str | None = None, rtt_ms: float | None = None,
            phases: dict[str, float] | None = None, facts: dict[str, object] | None = None) -> ProbeResult:
    phases = phases or {}
    phases["total"] = _ms_since(begin)
    return ProbeResult(KIND, check.name, shown, status, started_at, code=code, reason=reason, rtt_ms=rtt_ms,
                       phases=MappingProxyType(phases), facts=MappingProxyType(facts or {}))


def _ms_since(begin: float) -> float:
    return round((time.perf_counter() - begin) * 1000, 3)
