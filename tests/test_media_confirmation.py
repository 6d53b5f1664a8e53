"""Media confirmation: one failed test call never swaps; a media outage (SIP fine, no RTP) still
does, within one media interval plus the confirmation. Run through the one machine with the
simulator's world (virtual time), as `trunkguard simulate` does."""

from __future__ import annotations

import math

from trunkguard.config import Config, parse_config
from trunkguard.rules import trunk_specs
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
    sim = Simulation(cfg, Scenario.model_validate({"duration": duration, "events": events}), seed=seed)
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
    media = cfg.carriers.primary.media
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
