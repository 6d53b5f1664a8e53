"""Captures for SIPp's `play_pcap_audio`, written here with the standard library: RTP PCMU packets,
20 ms each, in UDP in IPv4 in Ethernet (the link types SIPp reads), stamped 20 ms apart.

- `tone_audio`: the contact center's test-call tone (the flow's prompt, trunkguard.flows.tone).
- `ivr_audio`: what a carrier's IVR plays instead: the special information tone (913.8, 1370.6 and
  1776.7 Hz, "the number you have dialled..."), then a voice-like sound (a 120-180 Hz glottal
  pulse through two moving formants), nowhere near 1004 Hz for long.
"""

from __future__ import annotations

import math
import random
import struct
from pathlib import Path

from trunkguard.flows.tone import tone_samples

RATE = 8000
FRAME = 160


def ulaw(sample: int) -> int:
    """G.711 mu-law encoding of one 16-bit sample (the bias-and-segment method)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = 7
    while exponent > 0 and not magnitude & (0x4000 >> (7 - exponent)):
        exponent -= 1
    return ~(sign | (exponent << 4) | ((magnitude >> (exponent + 3)) & 0x0F)) & 0xFF


def write_pcap(path: Path, samples: list[int], *, ssrc: int = 0x5EED, payload_type: int = 0) -> int:
    """`samples` as PCMU RTP packets in a pcap file; the number of packets written."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # LINKTYPE_ETHERNET
    count = len(samples) // FRAME
    for i in range(count):
        payload = bytes(ulaw(s) for s in samples[i * FRAME:(i + 1) * FRAME])
        rtp = struct.pack("!BBHII", 0x80, payload_type | (0x80 if i == 0 else 0), i, i * FRAME, ssrc) + payload
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
        frame = b"\x00\x00\x5e\x00\x53\x01\x00\x00\x5e\x00\x53\x02\x08\x00" + ip
        at_us = i * 20_000
        out += struct.pack("<IIII", at_us // 1_000_000, at_us % 1_000_000, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
    return count


def tone_audio(hz: float = 1004.0, seconds: float = 3.0) -> list[int]:
    return tone_samples(hz, seconds)


def ivr_audio(seconds: float = 3.0, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    out: list[int] = []
    for hz, length in ((913.8, 0.274), (1370.6, 0.274), (1776.7, 0.380)):
        out += [round(8000 * math.sin(2 * math.pi * hz * n / RATE)) for n in range(round(length * RATE))]
    total = round(seconds * RATE)
    y1 = y2 = z1 = z2 = 0.0
    phase = 0.0
    while len(out) < total:
        n = len(out)
        pitch = 150 + 30 * math.sin(2 * math.pi * 3 * n / RATE)
        phase += pitch / RATE
        pulse = 1.0 if phase >= 1.0 else 0.0
        phase -= int(phase)
        f1 = 500 + 200 * math.sin(2 * math.pi * 2 * n / RATE)
        f2 = 1600 + 500 * math.sin(2 * math.pi * 1.3 * n / RATE)
        y = pulse + 0.01 * rng.uniform(-1, 1) + _resonate(f1) * y1 - 0.95 * y2
        y2, y1 = y1, y
        z = y + _resonate(f2) * z1 - 0.9 * z2
        z2, z1 = z1, z
        out.append(max(-32767, min(32767, round(600 * z))))
    return out[:total]


def _resonate(hz: float) -> float:
    return 2 * 0.975 * math.cos(2 * math.pi * hz / RATE)


def need_raw_sockets() -> None:
    """SIPp sends a capture's packets from a raw socket: root or CAP_NET_RAW. Skipped without, on a
    laptop; a failure under CI=true (make test runs as root)."""
    import socket

    import pytest

    from tests.conftest import IN_CI

    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).close()
    except PermissionError:
        if IN_CI:
            pytest.fail("SIPp's play_pcap_audio needs a raw socket (root or CAP_NET_RAW) under CI=true")
        pytest.skip("SIPp's play_pcap_audio needs a raw socket: run as root or grant CAP_NET_RAW")


def contact_center_folder(folder: Path, *, tone_hz: float = 1004.0) -> Path:
    """A folder holding uas_contact_center.xml and its two captures: the tone, and an IVR."""
    import shutil

    from tests.conftest import SIPP_SCENARIOS

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SIPP_SCENARIOS / "uas_contact_center.xml", folder)
    write_pcap(folder / "tone.pcap", tone_audio(tone_hz))
    write_pcap(folder / "other.pcap", ivr_audio())
    return folder / "uas_contact_center.xml"
