"""Media confirmation: one failed test call never swaps; a media outage (SIP fine, no RTP) still
does, within one media interval plus the confirmation. Run through the one machine with the
simulator's world (virtual time), as `trunkguard simulate` does."""

from __future__ import annotations

import math

from trunkguard.config import Config, parse_config
from trunkguard.rules import sim_world, trunk_specs
from trunkguard.sim.runner import Simulation
from trunkguard.sim.scenario import Scenario


def _config(**media: str) -> Config:
    extra = "".join(f", {k}: {v}" for k, v in media.items())
    return parse_config(f"""carriers:
  primary:
    trunk_group_id: tg-primary
    media: {{enabled: true, interval: 60s, duration: 2s, rtp_timeout: 4s{extra}}}
    trunks: [{{name: p1, uri: "sip:127.0.0.1:5070"}}]
  secondary:
    trunk_group_id: tg-secondary
    trunks: [{{name: s1, uri: "sip:127.0.0.1:5072"}}]
policy:
  readiness: {{trunks: true, sweep: false, certs: false, parity: false}}
""")


def _run(cfg: Config, events: list[dict[str, object]], duration: float, seed: int = 1) -> Simulation:
    sim = Simulation(sim_world(cfg), Scenario.model_validate({"duration": duration, "events": events}), seed=seed)
    sim.run()
    return sim


def _a_test_call_after(cfg: Config, t: float) -> float:
    """When p1's first scheduled test call after `t` is placed."""
    spec = next(s for s in trunk_specs(cfg) if s.name == "p1")
    assert spec.media_interval is not None
    k = math.ceil((t - spec.media_offset) / spec.media_interval)
    return k * spec.media_interval + spec.media_offset


def _blip(cfg: Config) -> list[dict[str, object]]:
    """No RTP from 1 s before a scheduled test call to 2 s after it: that call fails, its re-test
    (confirm_interval later) finds RTP back."""
    call = _a_test_call_after(cfg, 300.0)
    return [{"at": call - 1.0, "trunk": "p1", "condition": "media_down"},
            {"at": call + 2.0, "trunk": "p1", "condition": "up"}]


def test_one_failed_test_call_is_re_tested_and_never_swaps() -> None:
    cfg = _config()
    sim = _run(cfg, _blip(cfg), 600)
    assert sim.result.swaps == []
    said = [s for _, _, sentences in sim.steps for s in sentences]
    assert not any("cannot carry calls" in s for s in said)


def test_a_media_outage_swaps_within_one_interval_plus_the_confirmation() -> None:
    cfg = _config()
    onsets = [300.0 + 60.0 * k / 10 for k in range(10)]
    delays = []
    for onset in onsets:
        sim = _run(cfg, [{"at": onset, "trunk": "p1", "condition": "media_down"}], onset + 180)
        assert sim.result.swaps, "a media outage must swap"
        delays.append(sim.result.swaps[0]["at_s"] - onset)
    media = cfg.carriers["primary"].media
    bound = media.interval + media.confirm_every + 2 * media.rtp_timeout + 1.0
    assert max(delays) <= bound, (delays, bound)


def test_with_down_after_1_one_failed_test_call_is_enough() -> None:
    cfg = _config(down_after="1")
    sim = _run(cfg, _blip(cfg), 600)  # the same blip: the one failed call is believed
    assert len(sim.result.swaps) == 1


def test_30_percent_options_loss_with_the_media_check_on_never_swaps_in_a_simulated_day() -> None:
    cfg = _config()
    sim = _run(cfg, [{"at": 0.0, "trunk": "p1", "condition": {"loss": 0.3}}], 86400.0, seed=7)
    assert sim.result.swaps == []


def test_the_media_thresholds_name_the_limit_crossed() -> None:
    from trunkguard.probing.quality import MediaLimits, judge
    from trunkguard.probing.rtp import RtpReport
    from trunkguard.probing.sip_invite import CallResult

    limits = MediaLimits()
    good = CallResult("ok", 200, rtp=RtpReport(sent=100, received=97, loss_pct=3.0, jitter_ms=4.2, rtt_ms=41.0))
    assert judge(good, limits) == (True, "ok: loss 3%, jitter 4.2 ms, RTP round trip 41 ms")
    lossy = CallResult("ok", 200, rtp=RtpReport(sent=100, received=88, loss_pct=12.0, jitter_ms=55.0, rtt_ms=20.0))
    ok, detail = judge(lossy, limits)
    assert not ok and detail == ("poor media: RTP loss 12% over max_loss_pct 8%; jitter 55 ms over "
                                 "max_jitter_ms 40 ms")
    slow = CallResult("ok", 200, rtp=RtpReport(sent=100, received=100, loss_pct=0.0, jitter_ms=1.0, rtt_ms=420.0))
    assert judge(slow, limits) == (False, "poor media: RTP round trip 420 ms over max_rtt_ms 300 ms")
    assert judge(CallResult("no_media", 200, reason="no RTP back"), limits) == (False, "no_media 200: no RTP back")
    assert judge(slow, MediaLimits(max_rtt_ms=500.0))[0] is True


def test_rtp_loss_above_the_threshold_swaps_and_below_it_does_not() -> None:
    cfg = _config()
    heavy = _run(cfg, [{"at": 300.0, "trunk": "p1", "condition": {"rtp_loss": 0.2}}], 600)
    assert len(heavy.result.swaps) == 1
    said = [s for _, _, sentences in heavy.steps for s in sentences]
    assert any("cannot carry calls: SIP answers but 2 test calls in a row failed (poor media: RTP loss" in s
               for s in said)
    light = _run(cfg, [{"at": 300.0, "trunk": "p1", "condition": {"rtp_loss": 0.01}}], 3600)
    assert light.result.swaps == []
