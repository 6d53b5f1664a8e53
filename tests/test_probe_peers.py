"""The OPTIONS probe against real peers: SIPp over UDP and TCP, silence, and TLS."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Sipp, free_port
from trunkguard.codes import parse_codes
from trunkguard.lab.certs import CertFiles, make_leaf, server_context
from trunkguard.lab.responder import Fault, SipResponder
from trunkguard.probing.result import ProbeStatus
from trunkguard.probing.sip_options import OptionsCheck, probe_options
from trunkguard.sip.client import SipClient
from trunkguard.sip.transport import client_tls_context
from trunkguard.sip.uri import Transport, parse_uri


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_sipp_answers_200_and_probe_is_ok(sipp_uas: Callable[..., Sipp], transport: str) -> None:
    """SIPp's `-sn uas -aa` 200 (no To-tag) counts as alive, with an RTT measured."""
    sipp = sipp_uas(transport)
    async with SipClient() as client:
        result = await probe_options(client, OptionsCheck("sipp", parse_uri(sipp.uri)))
    assert result.status is ProbeStatus.OK, result
    assert result.code == 200 and result.rtt_ms is not None and 0 < result.rtt_ms < 500
    assert result.facts["peer"] == f"{transport}:127.0.0.1:{sipp.port}"
    if transport == "tcp":
        assert result.phases["connect"] > 0


async def test_tcp_connection_is_reused_across_probes(sipp_uas: Callable[..., Sipp]) -> None:
    sipp = sipp_uas("tcp")
    check = OptionsCheck("sipp", parse_uri(sipp.uri))
    async with SipClient() as client:
        first = await probe_options(client, check)
        second = await probe_options(client, check)
    assert first.success and second.success
    assert "connect" in first.phases and "connect" not in second.phases


async def test_silent_udp_port_times_out_at_the_deadline_with_timer_e() -> None:
    """A peer that never answers: timeout at the 2 s deadline (not Timer F's 32 s), with the request
    retransmitted by Timer E at 0.5 s and 1.5 s."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.setblocking(False)
    port = silent.getsockname()[1]
    try:
        started = time.monotonic()
        async with SipClient() as client:
            result = await probe_options(client, OptionsCheck("silent", parse_uri(f"sip:127.0.0.1:{port}"), timeout=2.0))
        elapsed = time.monotonic() - started
        copies = 0
        while True:
            try:
                silent.recv(65535)
                copies += 1
            except BlockingIOError:
                break
    finally:
        silent.close()
    assert result.status is ProbeStatus.TIMEOUT
    assert 1.95 <= elapsed < 2.5
    assert copies == 3 and result.facts["retransmissions"] == 2


async def test_closed_tcp_port_is_an_error_at_once() -> None:
    port = free_port(socket.SOCK_STREAM)
    async with SipClient() as client:
        result = await probe_options(client, OptionsCheck("closed", parse_uri(f"sip:127.0.0.1:{port};transport=tcp")))
    assert result.status is ProbeStatus.ERROR
    assert result.reason == f"TCP connection to 127.0.0.1:{port} refused"


async def test_retransmission_recovers_a_lost_request() -> None:
    """The first request is lost; Timer E's retransmission is answered, so the probe is ok."""
    responder = await SipResponder(fault=Fault(loss=1.0)).start()
    try:
        async with SipClient() as client:
            task = asyncio.create_task(probe_options(client, OptionsCheck("lossy", parse_uri(responder.uri))))
            await asyncio.sleep(0.2)
            responder.fault = Fault()
            result = await task
    finally:
        await responder.stop()
    assert result.status is ProbeStatus.OK
    assert result.facts["retransmissions"] >= 1
    assert result.rtt_ms is not None and result.rtt_ms >= 450


async def test_code_outside_alive_codes_is_rejected_and_inside_is_ok() -> None:
    responder = await SipResponder(fault=Fault(code=405)).start()
    try:
        async with SipClient() as client:
            default = await probe_options(client, OptionsCheck("c", parse_uri(responder.uri)))
            lenient = await probe_options(client, OptionsCheck("c", parse_uri(responder.uri),
                                                               alive_codes=parse_codes("200-299,405")))
    finally:
        await responder.stop()
    assert (default.status, default.code) == (ProbeStatus.REJECTED, 405)
    assert (lenient.status, lenient.code) == (ProbeStatus.OK, 405)


async def test_tls_probe_verifies_the_generated_certificate(lab_ca: CertFiles, lab_leaf: CertFiles) -> None:
    responder = await SipResponder(transport=Transport.TLS, ssl_context=server_context(lab_leaf)).start()
    try:
        async with SipClient() as client:
            good = await probe_options(client, OptionsCheck(
                "tls", parse_uri(responder.uri), ssl_context=client_tls_context(ca_file=lab_ca.cert)))
            untrusted = await probe_options(client, OptionsCheck(
                "tls", parse_uri(responder.uri), ssl_context=client_tls_context()))
    finally:
        await responder.stop()
    assert good.status is ProbeStatus.OK and good.code == 200 and good.phases["connect"] > 0
    assert untrusted.status is ProbeStatus.ERROR
    assert untrusted.reason is not None and "did not verify" in untrusted.reason


async def test_tls_hostname_mismatch_fails_verification(tmp_path: Path, lab_ca: CertFiles) -> None:
    leaf = make_leaf(tmp_path, lab_ca, names=["other.example"])
    responder = await SipResponder(transport=Transport.TLS, ssl_context=server_context(leaf)).start()
    try:
        async with SipClient() as client:
            result = await probe_options(client, OptionsCheck(
                "tls", parse_uri(responder.uri), ssl_context=client_tls_context(ca_file=lab_ca.cert)))
            unchecked = await probe_options(client, OptionsCheck(
                "tls", parse_uri(responder.uri), ssl_context=client_tls_context(verify=False)))
    finally:
        await responder.stop()
    assert result.status is ProbeStatus.ERROR and "IP address mismatch" in (result.reason or "")
    assert unchecked.status is ProbeStatus.OK


async def test_mutual_tls_needs_our_client_certificate(tmp_path: Path, lab_ca: CertFiles,
                                                       lab_leaf: CertFiles) -> None:
    ours = make_leaf(tmp_path, lab_ca, names=["trunkguard.client"], stem="client", client=True)
    ctx = server_context(lab_leaf, client_ca=lab_ca)
    responder = await SipResponder(transport=Transport.TLS, ssl_context=ctx).start()
    try:
        async with SipClient() as client:
            with_cert = await probe_options(client, OptionsCheck("m", parse_uri(responder.uri), ssl_context=client_tls_context(
                ca_file=lab_ca.cert, cert_file=ours.cert, key_file=ours.key)))
        async with SipClient() as client:
            without = await probe_options(client, OptionsCheck("m", parse_uri(responder.uri), ssl_context=client_tls_context(
                ca_file=lab_ca.cert)))
    finally:
        await responder.stop()
    assert with_cert.status is ProbeStatus.OK
    assert without.status is not ProbeStatus.OK
