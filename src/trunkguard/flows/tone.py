"""The DID-sweep tone: the audio the routing-matrix flow plays to trunkguard's own test calls, so
the sweep can hear that a DID reached the contact center's flow and not a carrier's announcement.

Architect cannot synthesise a tone (text-to-speech only speaks), so the flow plays a user prompt
made from this WAV file (deploy/genesys/terraform/audio/). The file is generated, byte for byte,
by `tone_wav`: 8 kHz, 16-bit mono PCM, the milliwatt test frequency 1004 Hz, 10 ms ramps so the
edges do not click. `trunkguard flows tone` writes another frequency or length.
"""

from __future__ import annotations

import io
import math
import struct
import wave

RATE = 8000
TONE_HZ = 1004.0
SECONDS = 3.0
LEVEL = 0.5  # of full scale: about -6 dBFS, loud enough to survive G.729 without clipping
RAMP_S = 0.010


def tone_samples(hz: float = TONE_HZ, seconds: float = SECONDS, *, rate: int = RATE,
                 level: float = LEVEL) -> list[int]:
    """A sine of `hz` for `seconds` as 16-bit samples, ramped in and out."""
    if not 0 < hz < rate / 2:
        raise ValueError(f"{hz} Hz cannot be carried at {rate} samples a second (below {rate // 2} Hz)")
    if not 0 < seconds <= 60:
        raise ValueError(f"a tone of {seconds} s: give more than 0 and at most 60")
    count = round(seconds * rate)
    ramp = max(1, round(RAMP_S * rate))
    out: list[int] = []
    for n in range(count):
        gain = min(1.0, n / ramp, (count - 1 - n) / ramp)
        out.append(round(32767 * level * gain * math.sin(2 * math.pi * hz * n / rate)))
    return out


def tone_wav(hz: float = TONE_HZ, seconds: float = SECONDS, *, rate: int = RATE) -> bytes:
    """The tone as a WAV file (PCM, 16-bit, mono): what a Genesys user prompt accepts."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{round(seconds * rate)}h", *tone_samples(hz, seconds, rate=rate)))
    return buffer.getvalue()


def goertzel_power(samples: list[int], hz: float, rate: int = RATE) -> float:
    """The power of one frequency in `samples` (the Goertzel algorithm), for checking a tone."""
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2
