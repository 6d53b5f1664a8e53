"""A test call: INVITE with an SDP offer, then the RTP check, then BYE (the media probe), or the
answer code, with a tone listened for when the sweep expects one (the DID sweep). Every answered
call keeps what its SDP answer said (codecs, telephone-event, ptime, crypto) and its Contact and
Server headers, for parity between carriers and for proving who answered.

The INVITE client transaction (RFC 3261 17.1.1) retransmits over UDP until the first provisional
answer. A non-2xx final answer is acknowledged inside the transaction (same branch); a 2xx gets
its own ACK (new branch, To-tag, Route set from Record-Route). With a provisional answer but no
final one by the answer deadline, the call is CANCELled and its 487 acknowledged. Every step has a
deadline.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from trunkguard import __version__
from trunkguard.errors import ResolveError, SipParseError, TransportError
from trunkguard.probing.rtp import RtpReport, RtpSession
from trunkguard.probing.tone import Heard, ToneDetector, ToneExpectation
from trunkguard.sip import sdp
from trunkguard.sip.client import Outcome, SipClient, Target
from trunkguard.sip.message import SipResponse, build_dialog_request
from trunkguard.sip.resolve import resolve
from trunkguard.sip.uri import SipUri, Transport

if TYPE_CHECKING:  # dnspython (32 ms to import) only once a name is resolved
    import dns.asyncresolver

CallStatus = Literal["ok", "no_media", "rejected", "timeout", "error"]
CANCEL_GRACE = 2.0


@dataclass(frozen=True)
class CallResult:
    status: CallStatus
    code: int | None = None
    reason: str | None = None
    pdd_ms: float | None = None
    rtp: RtpReport | None = None
    provisional: tuple[int, ...] = ()
    bye_code: int | None = None
    codec: str | None = None
    answer: sdp.AnswerSummary | None = None  # what the 2xx's SDP answer said
    contact: str | None = None  # the 2xx's Contact
    server: str | None = None  # the 2xx's Server (or User-Agent)
    heard: Heard | None = None  # what the call heard, when a tone was listened for
    tone_s: float | None = None  # seconds from the answer to the tone, when it was heard

    def as_dict(self, target: str) -> dict[str, object]:
        rtp = self.rtp.as_dict() if self.rtp else {"sent": 0, "received": 0, "arrived": 0, "loss_pct": 0.0,
                                                   "jitter_ms": 0.0, "rtt_ms": None}
        return {"target": target, "status": self.status, "code": self.code, "pdd_ms": self.pdd_ms, "rtp": rtp,
                "answer": self.answer.as_dict() if self.answer else None}


@dataclass(frozen=True)
class CallPlan:
    uri: SipUri
    number: str | None = None
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    answer_timeout: float = 8.0
    media: bool = True
    duration: float = 2.0
    rtp_timeout: float = 4.0
    ssl_context: ssl.SSLContext | None = None
    caller: str | None = None  # the From user part (the calling number a flow may match on)
    tone: ToneExpectation | None = None  # listen for this tone after the answer (without `media`)

    @property
    def request_uri(self) -> str:
        params = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.uri.params)
        user = f"{self.number}@" if self.number else (f"{self.uri.user}@" if self.uri.user else "")
        return f"{self.uri.scheme}:{user}{self.uri.hostport}{params}"


async def place_call(client: SipClient, plan: CallPlan, *, target: Target | None = None,
                     resolver: dns.asyncresolver.Resolver | None = None) -> CallResult:
    """A test call to `target`, or to the first address the plan's URI resolves to (RFC 3263 order,
    the one a caller's proxy would try first)."""
    try:
        if target is None:
            target = (await resolve(plan.uri, timeout=min(plan.answer_timeout, 2.0), resolver=resolver))[0]
        await client.transport_for(target, plan.ssl_context, min(plan.answer_timeout, 2.0))
    except (ResolveError, TransportError) as exc:
        return CallResult("error", reason=str(exc))
    except TimeoutError:
        return CallResult("timeout", reason=f"no connection to {target} in time")
    local = client.local_address(target)
    if local is None:
        return CallResult("error", reason="no local address for the transport")
    rtp = await RtpSession.open(local[0]) if plan.media or plan.tone else None
    try:
        return await _call(client, plan, target, local, rtp)
    finally:
        if rtp is not None:
            rtp.close()


async def _call(client: SipClient, plan: CallPlan, target: Target, local: tuple[str, int],
                rtp: RtpSession | None) -> CallResult:
    host = f"[{local[0]}]" if ":" in local[0] else local[0]
    d = _Dialog(client, plan, target, via=f"SIP/2.0/{target.transport.via_token} {host}:{local[1]}",
                call_id=f"{client.new_tag()}@trunkguard",
                from_header=f"<sip:{plan.caller or 'trunkguard'}@{host}>;tag={client.new_tag()}")
    transport_param = "" if target.transport is Transport.UDP else f";transport={target.transport.value}"
    body = sdp.offer(local[0], rtp.port if rtp else 9, list(plan.codecs), session_id=int(time.time()))
    branch = client.new_branch()
    invite = d.request("INVITE", plan.request_uri, branch, f"<{plan.request_uri}>", 1,
                       extra=f"Contact: <sip:trunkguard@{host}:{local[1]}{transport_param}>\r\n"
                       "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\nContent-Type: application/sdp\r\n", body=body)
    started = time.perf_counter()
    ringing: list[float] = []

    def on_provisional(response: SipResponse) -> None:
        if response.status >= 180 and not ringing:
            ringing.append(time.perf_counter())

    pending = asyncio.ensure_future(client.transact(
        target, invite, branch=branch, call_id=d.call_id, cseq=1, method="INVITE",
        timeout=plan.answer_timeout + CANCEL_GRACE, ssl_context=plan.ssl_context, on_provisional=on_provisional))
    done, _ = await asyncio.wait({pending}, timeout=plan.answer_timeout)
    cancelled = False
    if not done:
        if client.provisional_of(branch):  # CANCEL is only allowed after a provisional (RFC 3261 9.1)
            cancelled = True
            await client.transact(target, d.request("CANCEL", plan.request_uri, branch, f"<{plan.request_uri}>", 1),
                                  branch=branch, call_id=d.call_id, cseq=1, method="CANCEL",
                                  timeout=CANCEL_GRACE, ssl_context=plan.ssl_context)
        else:
            client.abandon(branch, f"no answer within {plan.answer_timeout:g}s")
    result = await pending
    response = result.response
    pdd = round(((ringing[0] if ringing else time.perf_counter()) - started) * 1000, 2)
    if response is None:
        status: CallStatus = "timeout" if result.outcome is Outcome.TIMEOUT else "error"
        return CallResult(status, reason=result.error, provisional=result.provisional)
    if response.status >= 300:  # ACK a failure inside the INVITE transaction: same branch
        client.send_oneway(target, d.request("ACK", plan.request_uri, branch, response.header("to") or "", 1))
        if cancelled and response.status == 487:
            return CallResult("timeout", 487, f"no answer within {plan.answer_timeout:g}s; cancelled",
                              pdd, provisional=result.provisional)
        return CallResult("rejected", response.status, response.reason, pdd, provisional=result.provisional)
    return await _answered(d, response, rtp, pdd, result.provisional)


@dataclass
class _Dialog:
    client: SipClient
    plan: CallPlan
    target: Target
    via: str
    call_id: str
    from_header: str

    def request(self, method: str, ruri: str, branch: str, to_header: str, cseq: int, *, extra: str = "",
                body: bytes = b"") -> bytes:
        return build_dialog_request(method, ruri, via=self.via, branch=branch, from_header=self.from_header,
                                    to_header=to_header, call_id=self.call_id, cseq=cseq, extra=extra, body=body,
                                    user_agent=f"trunkguard/{__version__}")


async def _answered(d: _Dialog, response: SipResponse, rtp: RtpSession | None, pdd: float,
                    provisional: tuple[int, ...]) -> CallResult:
    """A 2xx: ACK it (a request of its own), check media or listen for the tone, hang up."""
    to_header = response.header("to") or f"<{d.plan.request_uri}>"
    contact = response.header("contact")
    remote = contact.split("<", 1)[1].split(">", 1)[0] if contact and "<" in contact else d.plan.request_uri
    record_route = [r.strip() for value in response.headers.get("record-route", []) for r in value.split(",")]
    routes = "".join(f"Route: {r}\r\n" for r in reversed(record_route))  # the UAC's route set (12.1.2)
    d.client.send_oneway(d.target, d.request("ACK", remote, d.client.new_branch(), to_header, 1, extra=routes))
    report: RtpReport | None = None
    codec: str | None = None
    status: CallStatus = "ok"
    reason = response.reason
    heard: Heard | None = None
    tone_s: float | None = None
    summary: sdp.AnswerSummary | None = None
    try:
        answer = sdp.parse_answer(response.body)
        summary = sdp.summarize(response.body)
    except SipParseError as exc:
        if d.plan.media and rtp is not None:
            status, reason = "no_media", f"answered without usable SDP: {exc}"
        heard = "no audio" if d.plan.tone else None
    else:
        codec = answer.codec
        if d.plan.media and rtp is not None:
            report = await rtp.check((answer.host, answer.port), payload_type=answer.payload_type,
                                     duration=d.plan.duration, rtp_timeout=d.plan.rtp_timeout)
            if not report.media:
                status, reason = "no_media", _no_media(report, d.plan.rtp_timeout)
        elif d.plan.tone and rtp is not None:
            detector = ToneDetector(d.plan.tone.hz)
            tone_s = await rtp.listen((answer.host, answer.port), payload_type=answer.payload_type,
                                      detector=detector, within=d.plan.tone.within)
            heard = detector.heard
    branch = d.client.new_branch()
    bye = await d.client.transact(d.target, d.request("BYE", remote, branch, to_header, 2, extra=routes),
                                  branch=branch, call_id=d.call_id, cseq=2, method="BYE", timeout=2.0,
                                  ssl_context=d.plan.ssl_context)
    bye_code = bye.response.status if bye.response is not None else None
    return CallResult(status, response.status, reason, pdd, report, provisional, bye_code, codec, summary,
                      contact, response.header("server") or response.header("user-agent"), heard, tone_s)


def _no_media(report: RtpReport, rtp_timeout: float) -> str:
    if report.one_way:
        return (f"RTP flows, but it is not our audio coming back ({report.received} of {report.came_back} "
                "packets match): one-way audio")
    return f"SIP answered but no RTP came back within {rtp_timeout:g}s"
