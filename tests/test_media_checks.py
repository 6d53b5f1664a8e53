"""Issue 4's checks against real peers: test calls with RTP, the DID sweep, certificates, parity."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sipp, free_port
from trunkguard.config import load_config
from trunkguard.config_checks import stored_readiness
from trunkguard.core.failover import Observation, PairSnapshot, PolicyRules, Readiness, decide
from trunkguard.core.health import TrunkHealth, TrunkState
from trunkguard.lab.certs import CertFiles, make_leaf, server_context
from trunkguard.lab.responder import SipResponder
from trunkguard.rules import call_plan
from trunkguard.sip.uri import Transport
from trunkguard.store import Store

MINIMAL = (Path(__file__).resolve().parent / "configs" / "minimal.yaml").read_text()
PROFILE = "{codecs: [PCMU, G729, PCMA], dtmf: rfc2833, dtmf_fallback: sip-info, ptime: 20, srtp: false, " \
          "early_media: false, nat: external-ip}"


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True, check=False,
                          timeout=timeout, env={**os.environ, **(env or {})})


def gates(config: Path) -> Readiness:
    """The readiness gates as the daemon reads them: from the store the config names."""
    cfg = load_config(config)
    store = Store.open(cfg.storage.url)
    try:
        return stored_readiness(cfg, store)
    finally:
        store.close()


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trunkguard.yaml"
    path.write_text(text + f'storage: {{url: "sqlite:///{tmp_path}/trunkguard.db"}}\n')
    return path


# ---- media -----------------------------------------------------------------------------------


def test_media_ok_against_sipp_rtp_echo(sipp_uas: Callable[..., Sipp]) -> None:
    sipp = sipp_uas("udp", extra=["-rtp_echo", "-mi", "127.0.0.1", "-m", "1"])
    result = _cli("media", f"sip:127.0.0.1:{sipp.port}", "--number", "15550001", "--duration", "1s", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"target", "status", "code", "pdd_ms", "rtp", "answer"}
    assert (data["status"], data["code"]) == ("ok", 200)
    rtp = data["rtp"]
    assert rtp["sent"] == 50 and rtp["received"] >= 45 and rtp["loss_pct"] <= 10
    assert rtp["arrived"] == rtp["received"]  # an echo brings back only our own packets
    # SIPp's built-in uas answers "m=audio <port> RTP/AVP 0" with its rtpmap and nothing else:
    assert data["answer"] == {"address": "127.0.0.1", "codecs": ["PCMU"], "telephone_event": None, "events": None,
                              "ptime": None, "crypto": [], "profile": "RTP/AVP", "direction": "sendrecv"}
    assert rtp["rtt_ms"] is not None and 0 < rtp["rtt_ms"] < 100 and rtp["jitter_ms"] >= 0
    assert sipp.process.wait(10) == 0  # SIPp saw INVITE, ACK and BYE as its scenario expects


def test_media_dead_while_sip_answers_is_no_media_within_the_rtp_timeout(sipp_uas: Callable[..., Sipp]) -> None:
    sipp = sipp_uas("udp", extra=["-mi", "127.0.0.1", "-m", "1"])  # no -rtp_echo
    started = time.monotonic()
    result = _cli("media", f"sip:127.0.0.1:{sipp.port}", "--duration", "1s", "--rtp-timeout", "2s", "--json")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert (data["status"], data["code"]) == ("no_media", 200)
    assert data["rtp"]["received"] == 0 and data["rtp"]["loss_pct"] == 100.0 and data["rtp"]["rtt_ms"] is None
    assert elapsed < 2 + 6  # the RTP timeout, plus interpreter start and the BYE
    assert sipp.process.wait(10) == 0


def test_unanswered_call_is_cancelled_after_the_ringing(sipp_uas: Callable[..., Sipp]) -> None:
    sipp = sipp_uas("udp", scenario="uas_ring_no_answer.xml", extra=["-m", "1"])
    result = _cli("media", f"sip:127.0.0.1:{sipp.port}", "--answer-timeout", "1s", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert (data["status"], data["code"]) == ("timeout", 487)
    assert data["pdd_ms"] is not None and data["pdd_ms"] < 1000
    assert sipp.process.wait(10) == 0  # CANCEL, 487 and its ACK went as RFC 3261 says


def test_media_rejected_and_silent(sipp_uas: Callable[..., Sipp]) -> None:
    sipp = sipp_uas("udp", scenario="uas_invite_carrier.xml", extra=["-m", "1"])
    rejected = _cli("media", f"sip:127.0.0.1:{sipp.port}", "--number", "+15550000404", "--json")
    assert rejected.returncode == 1
    assert (json.loads(rejected.stdout)["status"], json.loads(rejected.stdout)["code"]) == ("rejected", 404)
    assert sipp.process.wait(10) == 0
    silent = _cli("media", f"sip:127.0.0.1:{free_port()}", "--answer-timeout", "1s", "--json")
    assert silent.returncode == 1 and json.loads(silent.stdout)["status"] == "timeout"


def test_a_trunks_media_check_comes_from_its_config() -> None:
    config = load_config(Path(__file__).resolve().parent.parent / "examples" / "design-example.yaml")
    carrier = config.carriers["primary"]
    plan = call_plan(carrier, carrier.trunks[1])
    assert plan.codecs == ("PCMU", "G729", "PCMA") and plan.rtp_timeout == 4.0 and plan.duration == 2.0
    assert plan.request_uri == "sip:127.0.0.1:5070;transport=udp" and plan.ssl_context is None


def test_media_usage_errors() -> None:
    result = _cli("media", "sip:127.0.0.1", "--rtp-timeout", "0")
    assert result.returncode == 2 and "must be more than 0" in result.stderr


# ---- DID sweep -------------------------------------------------------------------------------


DIDS = ["+15550000001", "+15550000002", "+15550000404", "+15550000003", "+15550000480", "+15550000004"]


def _sweep_config(tmp_path: Path, port: int, dids: list[str], cps: int = 50) -> Path:
    text = MINIMAL.replace('- {name: secondary-1, uri: "sip:127.0.0.1:5072"}',
                           f'- {{name: secondary-1, uri: "sip:127.0.0.1:{port}"}}')
    text += f"    dids: {json.dumps(dids)}\n    sweep: {{cps: {cps}, concurrency: 10}}\n"
    return _config(tmp_path, text)


def test_sweep_names_exactly_the_unrouted_dids(sipp_uas: Callable[..., Sipp], tmp_path: Path) -> None:
    sipp = sipp_uas("udp", scenario="uas_invite_carrier.xml", extra=["-m", str(len(DIDS))])
    config = _sweep_config(tmp_path, sipp.port, DIDS)
    out = tmp_path / "sweep.csv"
    result = _cli("sweep", "--config", str(config), "--json", "--csv", str(out))
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"carrier", "total", "ok", "answered", "failed", "duration_s", "dids", "answers"}
    assert (data["carrier"], data["total"], data["answered"], data["ok"]) == ("secondary", 6, 4, False)
    assert [(d["did"], d["ok"], d["code"]) for d in data["dids"]] == [
        (did, not did.endswith(("404", "480")), 404 if did.endswith("404") else 480 if did.endswith("480") else 200)
        for did in DIDS]
    # the four 200s carried the same SDP answer, kept once with its count; the rejections none
    assert [(a["answer"]["codecs"], a["dids"]) for a in data["answers"]] == [(["PCMU"], 4)]
    assert {d["answer"] for d in data["dids"]} == {0, None}
    assert sorted((f["did"], f["code"]) for f in data["failed"]) == [("+15550000404", 404), ("+15550000480", 480)]
    assert {f["reason"] for f in data["failed"]} == {"Not Found", "Temporarily Unavailable"}
    rows = list(csv.DictReader(out.open()))
    assert [r["did"] for r in rows] == DIDS and [r["ok"] for r in rows].count("False") == 2
    assert sipp.process.wait(10) == 0
    assert gates(config).sweep_ok is False
    # ... and the stored result reaches the decision core's readiness gate:
    stored = replace(gates(config), certs_ok=True, parity_ok=True)
    dead_primary = Observation((TrunkHealth("primary-1", "primary", TrunkState.DOWN),
                                TrunkHealth("secondary-1", "secondary")), 0, stored)
    decision = decide(PairSnapshot(), dead_primary, 10.0, PolicyRules())
    assert decision.swap is None and "the DID sweep failed" in decision.sentence


def test_sweep_passes_and_honours_cps(sipp_uas: Callable[..., Sipp], tmp_path: Path) -> None:
    dids = [f"+1555000{i:04d}" for i in range(20)]
    sipp = sipp_uas("udp", scenario="uas_invite_carrier.xml", extra=["-m", "20"])
    config = _sweep_config(tmp_path, sipp.port, dids, cps=10)
    result = _cli("sweep", "--config", str(config), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["answered"] == 20 and data["ok"] is True and data["failed"] == []
    assert 1.9 <= data["duration_s"] < 4.0  # the 20th call starts at 1.9 s: 10 calls/s, not faster
    assert gates(config).sweep_ok is True


def test_sweeping_the_primary_leaves_the_secondarys_gate_alone(sipp_uas: Callable[..., Sipp],
                                                                tmp_path: Path) -> None:
    sipp = sipp_uas("udp", scenario="uas_invite_carrier.xml", extra=["-m", "1"])
    text = MINIMAL.replace('- {name: primary-1, uri: "sip:127.0.0.1:5070"}',
                           f'- {{name: primary-1, uri: "sip:127.0.0.1:{sipp.port}"}}')
    text = text.replace("  secondary:", '    dids: ["+15550000404"]\n  secondary:')
    config = _config(tmp_path, text)
    result = _cli("sweep", "--config", str(config), "--carrier", "primary", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["carrier"] == "primary"
    assert gates(config).sweep_ok is None  # the gate is about the secondary only


def test_sweep_without_dids_is_a_config_error(tmp_path: Path) -> None:
    result = _cli("sweep", "--config", str(_config(tmp_path, MINIMAL)))
    assert result.returncode == 2 and "carriers.secondary.dids: the sweep needs dids or dids_file" in result.stderr


def test_dids_file_with_a_bad_line_names_it(tmp_path: Path) -> None:
    (tmp_path / "dids.txt").write_text("+15550000001\n# comment\n\nnot-a-number\n")
    text = MINIMAL + "    dids_file: dids.txt\n"
    result = _cli("sweep", "--config", str(_config(tmp_path, text)))
    assert result.returncode == 2
    assert "carriers.secondary.dids_file: line 4: 'not-a-number' is not a number like +15550000001" in result.stderr


# ---- certificates ----------------------------------------------------------------------------


@pytest.fixture
def tls_trunk(tmp_path: Path, lab_ca: CertFiles) -> Iterator[Callable[..., tuple[Path, SipResponder]]]:
    """A lab TLS responder on its own event loop thread, and a config whose primary trunk is it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="tls-responder", daemon=True)
    thread.start()
    started: list[SipResponder] = []

    def start(days: float, names: list[str] | None = None, ca: CertFiles | None = None) -> tuple[Path, SipResponder]:
        leaf = make_leaf(tmp_path / f"leaf{len(started)}", lab_ca, names=names or ["127.0.0.1"], days=days)
        responder = asyncio.run_coroutine_threadsafe(
            SipResponder(transport=Transport.TLS, ssl_context=server_context(leaf)).start(), loop).result(5)
        started.append(responder)
        text = MINIMAL.replace('- {name: primary-1, uri: "sip:127.0.0.1:5070"}',
                               f'- {{name: primary-1, uri: "sip:127.0.0.1:{responder.port};transport=tls", '
                               f'tls: {{ca_file: "{(ca or lab_ca).cert}"}}}}')
        return _config(tmp_path, text + "tls: {warn_days: 14}\n"), responder

    yield start
    for responder in started:
        asyncio.run_coroutine_threadsafe(responder.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def _certs(config: Path) -> tuple[int, dict[str, Any]]:
    result = _cli("certs", "--config", str(config), "--json")
    return result.returncode, json.loads(result.stdout)


def test_certificate_expiring_in_days_warns(tls_trunk: Callable[..., tuple[Path, SipResponder]]) -> None:
    config, _ = tls_trunk(3)
    code, data = _certs(config)
    assert code == 1
    (row,) = data["certs"]
    assert set(row) == {"trunk", "subject", "not_after", "days_left", "hostname_ok", "chain_ok"}
    assert row["trunk"] == "primary-1" and row["subject"] == "CN=127.0.0.1"
    assert 2.9 < row["days_left"] <= 3.0 and row["hostname_ok"] and row["chain_ok"]
    assert gates(config).certs_ok is False


def test_healthy_certificate_passes(tls_trunk: Callable[..., tuple[Path, SipResponder]]) -> None:
    config, _ = tls_trunk(365)
    code, data = _certs(config)
    assert code == 0 and data["certs"][0]["days_left"] > 364
    assert gates(config).certs_ok is True


def test_wrong_name_and_untrusted_chain_fail(tls_trunk: Callable[..., tuple[Path, SipResponder]], tmp_path: Path) -> None:
    from trunkguard.lab.certs import make_ca
    config, _ = tls_trunk(365, names=["sbc.other.example"])
    code, data = _certs(config)
    assert code == 1 and data["certs"][0]["hostname_ok"] is False and data["certs"][0]["chain_ok"] is True
    other_ca = make_ca(tmp_path / "other-ca")
    config, _ = tls_trunk(365, ca=other_ca)
    code, data = _certs(config)
    assert code == 1 and data["certs"][0]["chain_ok"] is False


# ---- parity ----------------------------------------------------------------------------------


def _parity_config(tmp_path: Path, secondary_profile: str = PROFILE, secondary_uri: str = "sip:127.0.0.1:5072") -> Path:
    text = MINIMAL.replace("    trunk_group_id: tg-primary\n", f"    trunk_group_id: tg-primary\n    profile: {PROFILE}\n")
    text = text.replace("    trunk_group_id: tg-secondary\n",
                        f"    trunk_group_id: tg-secondary\n    profile: {secondary_profile}\n")
    text = text.replace('uri: "sip:127.0.0.1:5072"', f'uri: "{secondary_uri}"')
    return _config(tmp_path, text)


def test_identical_profiles_pass(tmp_path: Path) -> None:
    result = _cli("parity", "--config", str(_parity_config(tmp_path)), "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert (data["ok"], data["differences"], data["answers"]["compared"]) == (True, [], False)
    assert data["answers"]["note"].startswith("no stored sweeps to read")  # no sweep ran: the profiles decide


@pytest.mark.parametrize(
    ("change", "field", "primary", "secondary"),
    [
        (("[PCMU, G729, PCMA]", "[PCMU, PCMA, G729]"), "codecs", ["PCMU", "G729", "PCMA"], ["PCMU", "PCMA", "G729"]),
        (("dtmf: rfc2833", "dtmf: sip-info"), "dtmf", "rfc2833", "sip-info"),
        (("dtmf_fallback: sip-info", "dtmf_fallback: none"), "dtmf_fallback", "sip-info", "none"),
        (("ptime: 20", "ptime: 30"), "ptime", 20, 30),
        (("srtp: false", "srtp: true"), "srtp", False, True),
        (("early_media: false", "early_media: true"), "early_media", False, True),
        (("nat: external-ip", "nat: none"), "nat", "external-ip", "none"),
    ],
)
def test_each_profile_difference_is_named(tmp_path: Path, change: tuple[str, str], field: str,
                                          primary: object, secondary: object) -> None:
    config = _parity_config(tmp_path, PROFILE.replace(*change))
    result = _cli("parity", "--config", str(config), "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert (data["ok"], data["differences"]) == (False, [{"field": field, "primary": primary, "secondary": secondary}])
    assert gates(config).parity_ok is False


def test_signalling_transport_difference_is_named(tmp_path: Path) -> None:
    config = _parity_config(tmp_path, secondary_uri="sip:127.0.0.1:5072;transport=tcp")
    data = json.loads(_cli("parity", "--config", str(config), "--json").stdout)
    assert data["differences"] == [{"field": "transports", "primary": ["udp"], "secondary": ["tcp"]}]


def test_parity_without_profiles_is_a_config_error(tmp_path: Path) -> None:
    result = _cli("parity", "--config", str(_config(tmp_path, MINIMAL)))
    assert result.returncode == 2
    assert "carriers.primary.profile: is needed for the parity check" in result.stderr
