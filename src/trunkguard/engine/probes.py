"""Running the scheduler's probe tasks against the real trunks, and keeping what they found.

One SipClient serves every probe. Each OPTIONS probe is also watched for T1 (500 ms): still
unanswered then, the trunk is suspected at once (the engine's timer stands in for Timer E's first
retransmission, and works the same over TCP and TLS, which never retransmit).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from trunkguard.config import Config
from trunkguard.probing.result import ProbeResult
from trunkguard.probing.sip_invite import CallPlan, CallResult, place_call
from trunkguard.probing.sip_options import OptionsCheck, probe_options
from trunkguard.sip.client import SipClient

KEEP = 60            # samples kept per trunk (RTT history)
KEEP_FAILURES = 10   # recent failures kept even after successes evict them from the samples


@dataclass(frozen=True)
class Sample:
    at: float
    kind: str
    ok: bool
    code: int | None
    rtt_ms: float | None
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"at": round(self.at, 3), "kind": self.kind, "ok": self.ok, "code": self.code,
                "rtt_ms": self.rtt_ms, "detail": self.detail}


class TrunkProbes:
    """The checks of every trunk and their recent samples."""

    def __init__(self, config: Config) -> None:
        self.options = {t.name: OptionsCheck.for_trunk(c, t) for _, c, t in config.all_trunks()}
        self.calls = {t.name: CallPlan.for_trunk(c, t) for _, c, t in config.all_trunks() if c.media.enabled}
        self.samples: dict[str, collections.deque[Sample]] = {
            name: collections.deque(maxlen=KEEP) for name in self.options}
        self.failures: dict[str, collections.deque[Sample]] = {
            name: collections.deque(maxlen=KEEP_FAILURES) for name in self.options}
        self.client = SipClient()

    async def options_probe(self, trunk: str) -> ProbeResult:
        return await probe_options(self.client, self.options[trunk])

    async def media_probe(self, trunk: str) -> CallResult:
        return await place_call(self.client, self.calls[trunk])

    def record(self, trunk: str, sample: Sample) -> None:
        self.samples[trunk].append(sample)
        if not sample.ok:
            self.failures[trunk].append(sample)

    def close(self) -> None:
        self.client.close()
