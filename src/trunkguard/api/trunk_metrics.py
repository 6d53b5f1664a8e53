"""The per-trunk series of `/metrics`, written by hand.

Written here rather than through prometheus_client's collectors: at 1,000 trunks per carrier they are
about 16,000 samples, and the library validates and escapes every label of every sample at each
scrape (150 ms of CPU a scrape measured here, 350 ms in the daemon with probe phases). A trunk's
label text never changes, so it is escaped once, at start; a scrape then only joins strings
(see bench/scale.py for the measured scrape). The format is the text exposition format 0.0.4, as
the library writes it: families with HELP and TYPE, label names sorted, values as Go floats.
Everything else on `/metrics` stays with the library (api/metrics.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from trunkguard.core.health import TrunkState
from trunkguard.runtime.status import StatusView

RESULTS = ("success", "failure")


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _value(v: float) -> str:
    return "1.0" if v == 1 else "0.0" if v == 0 else str(floatToGoString(v))  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class _Family:
    name: str
    kind: str  # gauge | counter
    help: str

    def header(self) -> str:
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"


PROBES = _Family("trunkguard_probes_total", "counter", "Probes finished, by trunk, kind and result.")
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
TARGET_STATES = (TrunkState.UP, TrunkState.SUSPECT, TrunkState.DOWN)


class TrunkSeries:
    """The probe counters (kept here, every label set from 0 at start) and the per-trunk gauges."""

    def __init__(self, trunks: Iterable[tuple[str, str, bool]]) -> None:
        """`trunks`: (name, carrier, has a media check), in config order."""
        self.trunks: list[tuple[str, str, str, str]] = []  # name, carrier, escaped carrier, escaped name
        self.kinds: dict[str, tuple[str, ...]] = {}
        self.counts: dict[tuple[str, str, str], int] = {}
        for name, carrier, media in trunks:
            self.trunks.append((name, carrier, _escape(carrier), _escape(name)))
            self.kinds[name] = ("options", "media") if media else ("options",)
            for kind in self.kinds[name]:
                for result in RESULTS:
                    self.counts[(name, kind, result)] = 0
        self.last_probe: dict[str, bool] = {}

    def probed(self, trunk: str, kind: str, ok: bool) -> None:
        key = (trunk, kind, "success" if ok else "failure")
        if key in self.counts:
            self.counts[key] += 1
        if kind == "options":
            self.last_probe[trunk] = ok

    def render(self, view: StatusView) -> str:
        """Every family, in the order the library would write them."""
        out: dict[_Family, list[str]] = {f: [] for f in (PROBES, SUCCESS, PHASES, CODE, STATE, MEDIA, LOSS, JITTER,
                                                          RTP_RTT, TARGETS)}
        health = view.trunks
        index = view.index
        phases: Mapping[str, Mapping[str, float]] = view.samples.phases
        rtp = view.samples.rtp
        for name, _carrier, carrier, trunk in self.trunks:
            for kind in self.kinds[name]:
                for result in RESULTS:
                    out[PROBES].append(f'{PROBES.name}{{carrier="{carrier}",kind="{kind}",result="{result}",'
                                       f'trunk="{trunk}"}} {float(self.counts[(name, kind, result)])!r}\n')
            labels = f'carrier="{carrier}",trunk="{trunk}"'
            last = self.last_probe.get(name)
            if last is not None:
                out[SUCCESS].append(f"{SUCCESS.name}{{{labels}}} {'1.0' if last else '0.0'}\n")
            for phase, ms in phases.get(name, {}).items():
                out[PHASES].append(f'{PHASES.name}{{carrier="{carrier}",phase="{_escape(phase)}",trunk="{trunk}"}} '
                                   f"{_value(float(ms) / 1000)}\n")
            i = index.get(name)
            if i is None:
                continue
            h = health[i]
            if h.last_code is not None:
                out[CODE].append(f"{CODE.name}{{{labels}}} {_value(float(h.last_code))}\n")
            for s in TrunkState:
                out[STATE].append(f'{STATE.name}{{carrier="{carrier}",state="{s.value}",trunk="{trunk}"}} '
                                  f"{'1.0' if h.state is s else '0.0'}\n")
            if h.media_ok is not None:
                out[MEDIA].append(f"{MEDIA.name}{{{labels}}} {'1.0' if h.media_ok else '0.0'}\n")
            call = rtp.get(name)
            if call is not None:
                out[LOSS].append(f"{LOSS.name}{{{labels}}} {_value(call.loss_pct / 100)}\n")
                out[JITTER].append(f"{JITTER.name}{{{labels}}} {_value(call.jitter_ms / 1000)}\n")
                if call.rtt_ms is not None:
                    out[RTP_RTT].append(f"{RTP_RTT.name}{{{labels}}} {_value(call.rtt_ms / 1000)}\n")
            for t in h.targets:
                target = _escape(t.target)
                for s in TARGET_STATES:
                    out[TARGETS].append(f'{TARGETS.name}{{carrier="{carrier}",state="{s.value}",target="{target}",'
                                        f'trunk="{trunk}"}} {"1.0" if t.state is s else "0.0"}\n')
        return "".join(family.header() + "".join(lines) for family, lines in out.items())
