"""Whether a test call's media was good enough to carry calls, by thresholds per carrier.

The defaults come from the ITU-T E-model (G.107) for G.711 with packet-loss concealment
(Ie = 0, Bpl = 25.1) and the mouth-to-ear delay guidance of G.114:
- loss: R = 93.2 - Ie,eff with Ie,eff = 95 * Ppl / (Ppl + 25.1) for random loss; R falls to 70
  (the edge of "many users dissatisfied") at Ppl = 8.1 %, so a test call losing more than 8 % of its
  packets fails;
- round trip: G.114 keeps one-way delay under 150 ms for most applications, and the E-model's delay
  impairment Id grows steeply past about 177 ms one way: a round trip over 300 ms fails;
- jitter: a typical adaptive jitter buffer absorbs 40-60 ms; interarrival jitter (RFC 3550) over
  40 ms means late packets, i.e. loss the buffer adds, so it fails.
One call's figures are noisy; `media.down_after` (2) keeps one bad call from making a trunk unusable.
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkguard.probing.sip_invite import CallResult


@dataclass(frozen=True)
class MediaLimits:
    max_loss_pct: float = 8.0
    max_jitter_ms: float = 40.0
    max_rtt_ms: float = 300.0


def judge(result: CallResult, limits: MediaLimits) -> tuple[bool, str]:
    """(carries calls, what to say): a failed call says how it failed, a poor one which limit it crossed."""
    detail = f"{result.status}" + (f" {result.code}" if result.code else "") + \
        (f": {result.reason}" if result.reason and result.status != "ok" else "")
    if result.status != "ok":
        return False, detail
    rtp = result.rtp
    if rtp is None:
        return True, detail
    crossed = []
    if rtp.loss_pct > limits.max_loss_pct:
        crossed.append(f"RTP loss {rtp.loss_pct:g}% over max_loss_pct {limits.max_loss_pct:g}%")
    if rtp.jitter_ms > limits.max_jitter_ms:
        crossed.append(f"jitter {rtp.jitter_ms:g} ms over max_jitter_ms {limits.max_jitter_ms:g} ms")
    if rtp.rtt_ms is not None and rtp.rtt_ms > limits.max_rtt_ms:
        crossed.append(f"RTP round trip {rtp.rtt_ms:g} ms over max_rtt_ms {limits.max_rtt_ms:g} ms")
    if crossed:
        return False, "poor media: " + "; ".join(crossed)
    return True, f"ok: loss {rtp.loss_pct:g}%, jitter {rtp.jitter_ms:g} ms" + \
        (f", RTP round trip {rtp.rtt_ms:g} ms" if rtp.rtt_ms is not None else "")
