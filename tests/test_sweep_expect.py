"""The DID sweep proves each DID lands on the contact center (`sweep.expect`), not on someone
else's 200 OK.

Real peers: SIPp as the contact center (lab/sipp/uas_contact_center.xml), playing the flow's tone
from a generated capture to calls from the sweep's calling number and a carrier IVR's audio to the
rest (play_pcap_audio); SIPp as a carrier that answers without sending any audio
(uas_invite_carrier.xml).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Sipp
from tests.rtp_pcap import contact_center_folder, need_raw_sockets
from trunkguard.config import load_config
from trunkguard.config_checks import check_sweep, stored_readiness
from trunkguard.store import Store

MINIMAL = (Path(__file__).resolve().parent / "configs" / "minimal.yaml").read_text()
CALLER = "+15550009999"  # the number the lab contact center plays its tone to
IVR = "+15550000777"  # a DID the lab routes to a carrier's IVR
NOT_OURS = "answered 200, but not by the contact center: "


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True, check=False,
                          timeout=60, env=dict(os.environ))


def _config(tmp_path: Path, port: int, dids: list[str], sweep: str) -> Path:
    text = MINIMAL.replace('- {name: secondary-1, uri: "sip:127.0.0.1:5072"}',
                           f'- {{name: secondary-1, uri: "sip:127.0.0.1:{port}"}}')
    text += f"    dids: {json.dumps(dids)}\n    sweep: {sweep}\n"
    path = tmp_path / "trunkguard.yaml"
    path.write_text(text + f'storage: {{url: "sqlite:///{tmp_path}/trunkguard.db"}}\n')
    return path


def _stored_sweep(config: Path) -> dict[str, object]:
    cfg = load_config(config)
    store = Store.open(cfg.storage.url)
    try:
        return store.latest_checks("secondary")["sweep"]
    finally:
        store.close()


def _sweep_ok(config: Path) -> bool | None:
    cfg = load_config(config)
    store = Store.open(cfg.storage.url)
    try:
        return stored_readiness(cfg, store).sweep_ok
    finally:
        store.close()


def test_the_sweep_hears_the_tone_and_names_the_did_an_ivr_answered(sipp_uas: Callable[..., Sipp],
                                                                      tmp_path: Path) -> None:
    need_raw_sockets()
    dids = ["+15550000001", IVR, "+15550000002"]
    sipp = sipp_uas("udp", scenario=str(contact_center_folder(tmp_path / "cc")),
                    extra=["-mi", "127.0.0.1", "-m", str(2 * len(dids))])
    config = _config(tmp_path, sipp.port, dids,
                     f'{{cps: 20, concurrency: 10, caller: "{CALLER}", expect: {{tone_hz: 1004, tone_within: 3s}}}}')
    result = _cli("sweep", "--config", str(config), "--json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert (data["total"], data["answered"], data["ok"]) == (3, 2, False)
    assert data["failed"] == [{"did": IVR, "code": 200,
                               "reason": NOT_OURS + "no 1004 Hz tone within 3 s (heard other audio)"}]
    assert [(d["did"], d["ok"]) for d in data["dids"]] == [(dids[0], True), (IVR, False), (dids[2], True)]
    assert data["duration_s"] < 3 + 2  # the tone's calls hang up once it is heard; the IVR's waits 3 s
    # every answer was the contact center's SDP (one distinct answer, three calls)
    (answer,) = data["answers"]
    assert answer["dids"] == 3
    assert (answer["answer"]["codecs"], answer["answer"]["telephone_event"], answer["answer"]["events"],
            answer["answer"]["ptime"]) == (["PCMU"], 101, "0-16", 20)
    # the store keeps the per-DID reasons and the answers; the secondary is not ready
    stored = _stored_sweep(config)
    assert stored["summary"] == "2/3 DIDs answered; 1 answered 200 but not by the contact center"
    assert stored["result"]["dids"][1]["reason"] == NOT_OURS + "no 1004 Hz tone within 3 s (heard other audio)"  # type: ignore[index]
    assert stored["result"]["answers"] == data["answers"]  # type: ignore[index]
    assert _sweep_ok(config) is False
    # in words, for a person
    text = _cli("sweep", "--config", str(config))
    assert text.returncode == 1
    assert text.stdout.splitlines()[0].startswith("secondary carrier: 2/3 DIDs answered 200 by the contact center")
    assert f"  FAILED {IVR}: {NOT_OURS}no 1004 Hz tone within 3 s (heard other audio)" in text.stdout.splitlines()
    assert sipp.process.wait(10) == 0  # six calls, each INVITE, ACK, BYE


def test_without_the_calling_number_the_flow_plays_no_tone(sipp_uas: Callable[..., Sipp], tmp_path: Path) -> None:
    need_raw_sockets()
    dids = ["+15550000001", "+15550000002"]
    sipp = sipp_uas("udp", scenario=str(contact_center_folder(tmp_path / "cc")),
                    extra=["-mi", "127.0.0.1", "-m", str(len(dids))])
    config = _config(tmp_path, sipp.port, dids, "{expect: {tone_hz: 1004, tone_within: 2s}}")  # no caller
    result = _cli("sweep", "--config", str(config), "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["answered"] == 0 and data["ok"] is False
    assert {f["reason"] for f in data["failed"]} == {NOT_OURS + "no 1004 Hz tone within 2 s (heard other audio)"}
    assert sipp.process.wait(10) == 0


def test_a_200_with_no_audio_and_the_wrong_headers_is_named(sipp_uas: Callable[..., Sipp], tmp_path: Path) -> None:
    sipp = sipp_uas("udp", scenario="uas_invite_carrier.xml", extra=["-m", "1"])  # answers, sends no RTP
    config = _config(tmp_path, sipp.port, ["+15550000001"],
                     f'{{caller: "{CALLER}", expect: {{tone_hz: 1004, tone_within: 1s, sdp_address: "^10\\\\.", '
                     f'contact: "^<sip:127\\\\.0\\\\.0\\\\.1:{sipp.port}", server: "^lab-contact-center$"}}}}')
    result = _cli("sweep", "--config", str(config), "--json")
    assert result.returncode == 1, result.stderr
    (failed,) = json.loads(result.stdout)["failed"]
    # the Contact matches, so it is not named; the rest is, each with what was there
    assert failed == {"did": "+15550000001", "code": 200, "reason": (
        NOT_OURS + "no 1004 Hz tone within 1 s (no audio came back); the SDP answer's address '127.0.0.1' does not "
        "match sdp_address '^10\\\\.'; no Server to match server '^lab-contact-center$'")}
    assert sipp.process.wait(10) == 0


def test_answers_that_match_the_patterns_pass_the_daemons_recheck(sipp_uas: Callable[..., Sipp],
                                                                   tmp_path: Path) -> None:
    need_raw_sockets()
    sipp = sipp_uas("udp", scenario=str(contact_center_folder(tmp_path / "cc")),
                    extra=["-mi", "127.0.0.1", "-m", "2"])
    config = _config(tmp_path, sipp.port, ["+15550000001", "+15550000002"],
                     '{expect: {sdp_address: "^127\\\\.0\\\\.0\\\\.1$", contact: "sip:cc@", '
                     'server: "^lab-contact-center$"}}')
    result = asyncio.run(check_sweep(load_config(config)))  # the daemon's re-check: the config read there
    assert result.ok, result.result
    assert result.summary == "2/2 DIDs answered"
    assert [d["reason"] for d in result.result["dids"]] == [None, None]
    assert sipp.process.wait(10) == 0
