"""Hearing the contact center's tone: G.711 decoding, the Goertzel detector, and what it says it heard."""

from __future__ import annotations

import math

import pytest

from tests.rtp_pcap import ivr_audio, tone_audio, ulaw
from trunkguard.probing.rtp import rtp_payload
from trunkguard.probing.tone import ALAW, ULAW, ToneDetector, _measure, decode


def _pcmu(samples: list[int]) -> bytes:
    return bytes(ulaw(s) for s in samples)


def _heard(samples: list[int], hz: float = 1004.0, packet: int = 160) -> ToneDetector:
    detector = ToneDetector(hz)
    payload = _pcmu(samples)
    for i in range(0, len(payload), packet):  # as it arrives: one packet at a time
        detector.feed(decode(payload[i:i + packet], 0) or [])
    return detector


def _sine(hz: float, seconds: float, level: float = 0.5) -> list[int]:
    return [round(32767 * level * math.sin(2 * math.pi * hz * n / 8000)) for n in range(round(seconds * 8000))]


def test_g711_tables_decode_the_standard_values() -> None:
    assert (ULAW[0xFF], ULAW[0x7F], ULAW[0x80], ULAW[0x00]) == (0, 0, 32124, -32124)
    assert (ALAW[0xD5], ALAW[0x55], ALAW[0xAA], ALAW[0x2A]) == (8, -8, 32256, -32256)
    assert decode(b"\xff\x80", 0) == [0, 32124] and decode(b"\xd5", 8) == [8]
    assert decode(b"\x00" * 20, 18) is None  # G.729 is not decoded: no tone can be heard in it
    assert all(abs(ULAW[ulaw(s)] - s) <= max(8, abs(s) // 16) for s in range(-32000, 32000, 97))


def test_the_flows_tone_is_heard_within_its_first_100_ms() -> None:
    detector = _heard(tone_audio())
    assert detector.found and detector.heard == "tone"
    early = _heard(tone_audio()[:960])  # 120 ms of it
    assert early.found


def test_a_milliwatt_tone_of_1000_hz_counts_but_not_a_neighbouring_note() -> None:
    assert _heard(_sine(1000, 0.5)).found
    far = _heard(_sine(1100, 0.5))
    assert not far.found and far.heard == "other audio"


def test_a_carriers_ivr_is_other_audio() -> None:
    detector = _heard(ivr_audio(3.0))
    assert not detector.found and detector.heard == "other audio"


def test_silence_and_a_whisper_of_the_tone_are_silence() -> None:
    assert _heard([0] * 8000).heard == "silence"
    whisper = _heard(_sine(1004, 1.0, level=0.003))  # about -50 dBFS: below the -45 dBFS floor
    assert not whisper.found and whisper.heard == "silence"
    assert ToneDetector(1004).heard == "no audio"


def test_a_blip_shorter_than_100_ms_is_not_the_tone() -> None:
    blip = _sine(1004, 0.08) + [0] * 1600
    assert not _heard(blip).found
    assert _heard(_sine(1004, 0.12), packet=37).found  # packet size does not matter, only the 20 ms blocks


def test_rtp_payload_skips_csrcs_extension_and_padding() -> None:
    header = bytes([0xB1, 0x00]) + b"\x00\x01" + b"\x00" * 8  # v2, padding, extension, 1 CSRC, PT 0
    csrc = b"\x00\x00\x00\x07"
    extension = b"\xbe\xde\x00\x01" + b"\x01\x02\x03\x04"  # one 32-bit word
    body = b"\xff" * 160
    padding = b"\x00\x00\x03"
    assert rtp_payload(header + csrc + extension + body + padding) == (0, body)
    assert rtp_payload(b"\x00" * 40) is None  # version 0: not RTP
    assert rtp_payload(b"\x80\x08" + b"\x00" * 10) == (8, b"")


@pytest.mark.parametrize("seconds", [20.0])
def test_the_docstrings_cpu_figure_holds(seconds: float) -> None:
    """The module says 1.5 to 1.9 ms of CPU per second of audio; even a loaded CI machine stays under 15 ms."""
    assert _measure(seconds) < 0.015
