"""The per-trunk series of `/metrics`, as one prometheus_client collector.

The library encodes them (text format 0.0.4 or OpenMetrics, as the scraper asks; api/scrape.py). At
1,000 trunks per carrier they are about 26,000 samples, and the encoding is the library's, 5 to
8 µs a sample here; what this collector saves is the building: every label dict a trunk's series
can carry is made once, at start, and a scrape only appends `Sample`s that point at them (12 ms
for 26,000 samples against 49 ms through `add_metric`, measured here). Targets are the exception:
a name's addresses can change, so their labels are made at each scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from trunkguard.core.events import PROBE_OUTCOMES
from trunkguard.core.health import TrunkState
from trunkguard.runtime.status import StatusView


@dataclass(frozen=True)
class _Family:
    name: str
    kind: str  # gauge | counter
    help: str

    def metric(self) -> Metric:
        return Metric(self.name, self.help, self.kind)


PROBES = _Family("trunkguard_probes", "counter", "Probes finished, by trunk, kind and result: ok; timeout (no answer "
                 "within the deadline); rejected (the peer answered with a failure: a code outside the alive codes, "
                 "or a test call without audio or with audio over its limits); error (DNS, connection, TLS).")
SUCCESS = _Family("trunkguard_probe_success", "gauge", "1 if the trunk's last OPTIONS probe succeeded.")
PHASES = _Family("trunkguard_probe_duration_seconds", "gauge", "The last OPTIONS probe's phases.")
CODE = _Family("trunkguard_probe_sip_status_code", "gauge", "The SIP status code of the trunk's last answered OPTIONS "
               "probe (blackbox_exporter's probe_http_status_code).")
STATE = _Family("trunkguard_trunk_state", "gauge", "1 for the trunk's current health state.")
MEDIA = _Family("trunkguard_media_ok", "gauge", "1 if the trunk's last media check carried RTP both ways.")
LOSS = _Family("trunkguard_media_rtp_loss_ratio", "gauge", "RTP packets lost in the last test call (0 to 1).")
JITTER = _Family("trunkguard_media_rtp_jitter_seconds", "gauge", "RFC 3550 interarrival jitter of the last test call.")
RTP_RTT = _Family("trunkguard_media_rtp_rtt_seconds", "gauge", "RTP round trip of the last test call (its packets "
                  "echoed back).")
TARGETS = _Family("trunkguard_target_state", "gauge", "1 for the health state of each address the trunk's name "
                  "resolves to (RFC 3263), each probed on its own.")
FAMILIES = (PROBES, SUCCESS, PHASES, CODE, STATE, MEDIA, LOSS, JITTER, RTP_RTT, TARGETS)
TARGET_STATES = (TrunkState.UP, TrunkState.SUSPECT, TrunkState.DOWN)
PROBES_TOTAL = PROBES.name + "_total"


@dataclass
class _Trunk:
    """One trunk's label dicts, made once."""

    name: str
    carrier: str
    labels: dict[str, str]  # carrier, trunk
    probes: list[tuple[tuple[str, str], dict[str, str]]]  # (kind, result) and its labels
    states: list[tuple[TrunkState, dict[str, str]]]
    phases: dict[str, dict[str, str]]  # made at the first sample of each phase


class TrunkSeries(Collector):
    """The probe counters (kept here, every label set from 0 at start) and the per-trunk gauges, read
    from the status the runtime published last."""

    def __init__(self, trunks: Iterable[tuple[str, str, bool]], view: Callable[[], StatusView]) -> None:
        """`trunks`: (name, carrier, has a media check), in config order; `view()`: the status now."""
        self.view = view
        self.trunks: list[_Trunk] = []
        self.counts: dict[tuple[str, str, str], int] = {}
        for name, carrier, media in trunks:
            labels = {"carrier": carrier, "trunk": name}
            kinds = ("options", "media") if media else ("options",)
            probes = [((kind, result), {"carrier": carrier, "kind": kind, "result": result, "trunk": name})
                      for kind in kinds for result in PROBE_OUTCOMES]
            for (kind, result), _ in probes:
                self.counts[(name, kind, result)] = 0
            states = [(s, {"carrier": carrier, "state": s.value, "trunk": name}) for s in TrunkState]
            self.trunks.append(_Trunk(name, carrier, labels, probes, states, {}))
        self.last_probe: dict[str, bool] = {}

    def probed(self, trunk: str, kind: str, outcome: str) -> None:
        """One finished probe: `outcome` is one of PROBE_OUTCOMES."""
        key = (trunk, kind, outcome)
        if key in self.counts:
            self.counts[key] += 1
        if kind == "options":
            self.last_probe[trunk] = outcome == "ok"

    def describe(self) -> Iterator[Metric]:
        """The families, so that the registry finds them by name (`/metrics?name[]=...`)."""
        return iter([f.metric() for f in FAMILIES])

    def collect(self) -> Iterator[Metric]:
        view = self.view()
        out = {f: f.metric() for f in FAMILIES}
        probes, success, phase_s, code, state = (out[f].samples for f in (PROBES, SUCCESS, PHASES, CODE, STATE))
        media, loss, jitter, rtp_rtt, targets = (out[f].samples for f in (MEDIA, LOSS, JITTER, RTP_RTT, TARGETS))
        health, index, counts = view.trunks, view.index, self.counts
        phases: Mapping[str, Mapping[str, float]] = view.samples.phases
        rtp = view.samples.rtp
        for t in self.trunks:
            name, labels = t.name, t.labels
            for (kind, result), probe_labels in t.probes:
                probes.append(Sample(PROBES_TOTAL, probe_labels, float(counts[(name, kind, result)])))
            last = self.last_probe.get(name)
            if last is not None:
                success.append(Sample(SUCCESS.name, labels, 1.0 if last else 0.0))
            for phase, ms in phases.get(name, {}).items():
                phase_labels = t.phases.get(phase)
                if phase_labels is None:
                    phase_labels = t.phases[phase] = {"carrier": t.carrier, "phase": phase, "trunk": name}
                phase_s.append(Sample(PHASES.name, phase_labels, float(ms) / 1000))
            i = index.get(name)
            if i is None:
                continue
            h = health[i]
            if h.last_code is not None:
                code.append(Sample(CODE.name, labels, float(h.last_code)))
            for s, state_labels in t.states:
                state.append(Sample(STATE.name, state_labels, 1.0 if h.state is s else 0.0))
            if h.media_ok is not None:
                media.append(Sample(MEDIA.name, labels, 1.0 if h.media_ok else 0.0))
            call = rtp.get(name)
            if call is not None:
                loss.append(Sample(LOSS.name, labels, call.loss_pct / 100))
                jitter.append(Sample(JITTER.name, labels, call.jitter_ms / 1000))
                if call.rtt_ms is not None:
                    rtp_rtt.append(Sample(RTP_RTT.name, labels, call.rtt_ms / 1000))
            for target in h.targets:
                for s in TARGET_STATES:
                    targets.append(Sample(TARGETS.name, {"carrier": t.carrier, "state": s.value,
                                                         "target": target.target, "trunk": name},
                                          1.0 if target.state is s else 0.0))
        return iter(out.values())
