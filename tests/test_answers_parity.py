"""Parity from the carriers' own answers: SDP answers summed up, compared as sentences, and shown by
`trunkguard parity` ("from the carriers' answers") from the stored sweeps of both carriers.

Real peers: SIPp as a contact center behind the primary (answers PCMU with telephone-event 0-16,
ptime 20) and SIPp as the secondary carrier (answers PCMU alone)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tests.conftest import Sipp
from tests.rtp_pcap import contact_center_folder, need_raw_sockets
from trunkguard.config import load_config
from trunkguard.probing.answers import answer_differences, typical_answer
from trunkguard.sip.sdp import AnswerSummary, summarize
from trunkguard.store import Store

MINIMAL = (Path(__file__).resolve().parent / "configs" / "minimal.yaml").read_text()
PROFILE = "{codecs: [PCMU, PCMA], dtmf: rfc2833, dtmf_fallback: sip-info, ptime: 20, srtp: false, " \
          "early_media: false, nat: external-ip}"
DTMF = ("DTMF: the secondary carrier answers without telephone-event (RFC 4733), so DTMF falls back to SIP INFO "
        "or in-band; the primary carrier offers it")

ANSWER = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
          b"m=audio 40000 RTP/SAVP 8 0 101\r\nc=IN IP4 192.0.2.20\r\na=rtpmap:8 PCMA/8000\r\n"
          b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:30\r\n"
          b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n"
          b"a=sendonly\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=ptime:99\r\n")


def test_an_answer_is_summed_up_without_its_key_or_port() -> None:
    summary = summarize(ANSWER)
    assert summary == AnswerSummary("192.0.2.20", ("PCMA", "PCMU"), 101, "0-15", 30,
                                    ("1 AES_CM_128_HMAC_SHA1_80",), "RTP/SAVP", "sendonly")
    assert "inline" not in json.dumps(summary.as_dict())  # the SRTP key of one call is not kept
    assert AnswerSummary.from_dict(summary.as_dict()) == summary


def test_each_difference_is_one_sentence() -> None:
    a = AnswerSummary("10.0.0.1", ("PCMU", "PCMA"), 101, "0-16", 20)
    assert answer_differences("primary", a, "secondary", replace(a, address="10.9.9.9")) == []  # where is not what
    assert answer_differences("primary", a, "secondary", replace(a, telephone_event=None, events=None)) == [DTMF]
    assert answer_differences("primary", a, "secondary", replace(a, codecs=("PCMA", "PCMU"))) == [
        "codecs: the secondary carrier answers PCMA, PCMU, the primary carrier PCMU, PCMA: calls through the "
        "secondary carrier start with PCMA, so they may be transcoded or sound different"]
    assert answer_differences("primary", a, "secondary", replace(a, events="0-15", ptime=30)) == [
        "DTMF events: the secondary carrier answers telephone-event 0-15, the primary carrier 0-16: events outside "
        "the smaller set are not carried",
        "ptime: the secondary carrier answers 30 ms, the primary carrier 20 ms"]
    assert answer_differences("primary", a, "secondary", replace(a, ptime=None)) == []  # 20 ms is the default
    assert answer_differences("primary", a, "secondary", replace(a, crypto=("1 AES_CM_128_HMAC_SHA1_80",),
                                                                  profile="RTP/SAVP")) == [
        "SRTP: the secondary carrier answers with crypto (AES_CM_128_HMAC_SHA1_80), the primary carrier without "
        "(plain RTP)"]


def test_a_carrier_is_summed_up_by_the_answer_most_calls_got() -> None:
    one = AnswerSummary("10.0.0.1", ("PCMU",)).as_dict()
    other = AnswerSummary("10.0.0.2", ("PCMA",)).as_dict()
    assert typical_answer([{"answer": one, "dids": 2}, {"answer": other, "dids": 9}]) == AnswerSummary.from_dict(other)
    assert typical_answer([]) is None


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True, check=False,
                          timeout=60)


def test_parity_names_what_the_carriers_answers_differ_in(sipp_uas: Callable[..., Sipp], tmp_path: Path) -> None:
    need_raw_sockets()
    primary = sipp_uas("udp", scenario=str(contact_center_folder(tmp_path / "cc")),
                       extra=["-mi", "127.0.0.1", "-m", "2"])
    secondary = sipp_uas("udp", scenario="uas_invite_carrier.xml", extra=["-m", "2"])
    text = MINIMAL.replace('uri: "sip:127.0.0.1:5070"}', f'uri: "sip:127.0.0.1:{primary.port}"}}')
    text = text.replace('uri: "sip:127.0.0.1:5072"}', f'uri: "sip:127.0.0.1:{secondary.port}"}}')
    text = text.replace("  secondary:\n", f'    profile: {PROFILE}\n    dids: ["+15550000001", "+15550000002"]\n'
                                          "  secondary:\n")
    text += f'    profile: {PROFILE}\n    dids: ["+15550000003", "+15550000004"]\n'
    config = tmp_path / "trunkguard.yaml"
    config.write_text(text + f'storage: {{url: "sqlite:///{tmp_path}/trunkguard.db"}}\n')

    # only the secondary swept: the answers are not compared, and the profiles (the same) decide
    assert _cli("sweep", "--config", str(config)).returncode == 0
    alone = _cli("parity", "--config", str(config))
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert alone.stdout.splitlines() == [
        "the carriers' profiles match",
        "from the carriers' answers: not compared: no SDP answers stored for the primary carrier "
        "(run `trunkguard sweep --carrier primary`)"]

    # both swept: the same profiles, but the answers say the secondary has no RFC 4733 events
    assert _cli("sweep", "--config", str(config), "--carrier", "primary").returncode == 0
    both = _cli("parity", "--config", str(config))
    assert both.returncode == 1
    assert both.stdout.splitlines() == ["the carriers' profiles match", f"from the carriers' answers: {DTMF}"]
    data = json.loads(_cli("parity", "--config", str(config), "--json").stdout)
    assert (data["ok"], data["differences"], data["answers"]) == (
        False, [], {"compared": True, "differences": [DTMF], "note": None})
    # the stored parity result carries it, so the gate holds the secondary back
    cfg = load_config(config)
    store = Store.open(cfg.storage.url)
    try:
        row = store.latest_checks("secondary")["parity"]
    finally:
        store.close()
    assert (row["ok"], row["summary"]) == (False, "profiles match; answers: 1 difference")
    assert row["result"]["answers"]["differences"] == [DTMF]
    assert primary.process.wait(10) == 0 and secondary.process.wait(10) == 0
