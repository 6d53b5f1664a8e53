"""`trunkguard probe` and `trunkguard bench options` as a user runs them, against SIPp."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from tests.conftest import Sipp, free_port
from trunkguard.lab.certs import CertFiles, server_context
from trunkguard.lab.responder import SipResponder
from trunkguard.sip.uri import Transport


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True,
                          check=False, timeout=timeout)


def test_probe_json_reports_sipp_200_with_rtt(sipp_uas: Callable[..., Sipp]) -> None:
    sipp = sipp_uas("udp")
    result = _cli("probe", sipp.uri, "--count", "3", "--interval", "100ms", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["target"] == sipp.uri and data["sent"] == 3 and data["passed"] == 3 and data["ok"] is True
    assert [r["seq"] for r in data["results"]] == [1, 2, 3]
    for row in data["results"]:
        assert set(row) == {"seq", "status", "code", "reason", "rtt_ms"}
        assert (row["status"], row["code"], row["reason"]) == ("ok", 200, "OK")
        assert isinstance(row["rtt_ms"], float) and 0 < row["rtt_ms"] < 500


def test_probe_over_tcp_text_output(sipp_uas: Callable[..., Sipp]) -> None:
    sipp = sipp_uas("tcp")
    result = _cli("probe", sipp.uri)
    assert result.returncode == 0, result.stderr
    assert "ok 200 OK in" in result.stdout and "1 sent, 1 ok" in result.stdout


def test_dead_port_times_out_within_its_deadline() -> None:
    port = free_port()
    started = time.monotonic()
    result = _cli("probe", f"sip:127.0.0.1:{port}", "--timeout", "1s", "--json")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    row = json.loads(result.stdout)["results"][0]
    assert (row["status"], row["code"], row["rtt_ms"]) == ("timeout", None, None)
    assert elapsed < 10  # the deadline, plus interpreter start; never Timer F's 32 s


def test_rejected_code_and_alive_codes(sipp_uas: Callable[..., Sipp]) -> None:
    """SIPp answering 503 is `rejected`; declaring 503 alive makes it ok (exit 0)."""
    sipp = sipp_uas("udp", scenario="uas_options_503.xml")
    rejected = _cli("probe", sipp.uri, "--json")
    assert rejected.returncode == 1
    row = json.loads(rejected.stdout)["results"][0]
    assert (row["status"], row["code"], row["reason"]) == ("rejected", 503, "Service Unavailable")
    accepted = _cli("probe", sipp.uri, "--alive-codes", "200-299,503", "--json")
    assert rejected.returncode == 1 and json.loads(rejected.stdout)["ok"] is False
    assert json.loads(rejected.stdout)["passed"] == 0
    assert accepted.returncode == 0 and json.loads(accepted.stdout)["ok"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["probe", "http://x"], "must start with sip: or sips:"),
        (["probe", "sip:127.0.0.1", "--alive-codes", "abc"], "'abc' is not a response code"),
        (["probe", "sip:127.0.0.1", "--timeout", "soon"], "'soon' is not a duration"),
        (["probe", "sip:127.0.0.1", "--count", "0"], "Invalid value for '--count'"),
        (["bench", "options", "sip:127.0.0.1:5060", "--duration", "0s"], "--duration and --timeout must be more"),
    ],
)
def test_usage_errors_exit_2_and_say_why(args: list[str], message: str) -> None:
    result = _cli(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_bench_options_json_against_sipp(sipp_uas: Callable[..., Sipp]) -> None:
    sipp = sipp_uas("udp", scenario="uas_options.xml")
    result = _cli("bench", "options", f"sip:127.0.0.1:{sipp.port}", "--duration", "1s", "--warmup", "200ms",
                  "--concurrency", "8", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["completed"] > 100 and data["timeouts"] == 0
    assert data["rate_per_s"] > 100
    assert 0 < data["rtt_ms"]["p50"] <= data["rtt_ms"]["p99"]


def test_bench_against_silence_reports_no_completions() -> None:
    port = free_port(socket.SOCK_DGRAM)
    result = _cli("bench", "options", f"sip:127.0.0.1:{port}", "--duration", "300ms", "--warmup", "0",
                  "--timeout", "200ms", "--concurrency", "4", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["completed"] == 0 and data["timeouts"] > 0


async def test_probe_names_every_target_of_a_name_from_the_given_name_server(sipp_uas: Callable[..., Sipp]) -> None:
    import asyncio

    from tests.dnszone import serving_zone

    alive, dead = sipp_uas("udp"), free_port()
    zone = {("_sip._udp.carrier-a.test.", "SRV"): [f"10 0 {alive.port} sbc1.carrier-a.test.",
                                                   f"20 0 {dead} sbc2.carrier-a.test."],
            ("sbc1.carrier-a.test.", "A"): ["127.0.0.1"], ("sbc2.carrier-a.test.", "A"): ["127.0.0.1"]}
    async with serving_zone(zone) as server:
        async def run(*extra: str) -> tuple[int, str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "trunkguard", "probe", "sip:carrier-a.test;transport=udp", "--timeout", "1s",
                "--nameserver", f"127.0.0.1:{server.port}", *extra, stdout=asyncio.subprocess.PIPE)
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            return proc.returncode or 0, out.decode()

        code, out = await run("--json")
        row = json.loads(out)["results"][0]
        assert code == 0 and row["status"] == "ok"
        assert [(t["target"], t["status"]) for t in row["targets"]] == [(f"udp:127.0.0.1:{alive.port}", "ok"),
                                                                        (f"udp:127.0.0.1:{dead}", "timeout")]
        code, out = await run("--targets", "all")
        assert code == 1 and f"udp:127.0.0.1:{dead}: timeout" in out


def test_probe_refuses_a_name_server_given_by_name() -> None:
    result = _cli("probe", "sip:carrier-a.test", "--nameserver", "dns.example")
    assert result.returncode == 2
    assert "--nameserver: 'dns.example' is not an IP address (a name server is given by address)" in result.stderr


def test_bench_options_over_tcp_against_sipp(sipp_uas: Callable[..., Sipp]) -> None:
    sipp = sipp_uas("tcp", scenario="uas_options.xml")
    result = _cli("bench", "options", sipp.uri, "--duration", "1s", "--warmup", "200ms", "--concurrency", "8", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["completed"] > 100 and data["errors"] == 0 and data["closed_by_peer"] is False


async def test_bench_options_over_tls_verifies_the_peer(lab_ca: CertFiles, lab_leaf: CertFiles) -> None:
    responder = await SipResponder(transport=Transport.TLS, ssl_context=server_context(lab_leaf)).start()
    try:
        async def bench(*extra: str) -> tuple[int, str, str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "trunkguard", "bench", "options", responder.uri, "--duration", "1s",
                "--warmup", "200ms", "--concurrency", "4", "--json", *extra,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode or 0, out.decode(), err.decode()

        code, out, err = await bench("--ca-file", str(lab_ca.cert))
        assert code == 0, err
        assert json.loads(out)["completed"] > 50
        code, _, err = await bench()  # the system CAs do not know the lab's CA
        assert code == 1 and "cannot reach" in err and "Traceback" not in err
    finally:
        await responder.stop()


async def test_bench_against_a_tcp_peer_that_closes_on_every_frame_stops_cleanly() -> None:
    """The campaign's RecursionError: every send failed at once and started the next inside itself."""
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "trunkguard", "bench", "options", f"sip:127.0.0.1:{port};transport=tcp",
            "--duration", "1s", "--warmup", "100ms", "--concurrency", "32", "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1 and b"RecursionError" not in err and b"Traceback" not in err, err
        data = json.loads(out)
        assert data["completed"] == 0 and data["closed_by_peer"] is True
    finally:
        server.close()
        await server.wait_closed()
