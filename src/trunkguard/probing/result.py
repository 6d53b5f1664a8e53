"""The one result type every probe returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class ProbeStatus(StrEnum):
    OK = "ok"
    TIMEOUT = "timeout"
    REJECTED = "rejected"  # a final answer outside the trunk's alive codes
    ERROR = "error"  # DNS, connection refused, TLS, malformed answer
    NO_MEDIA = "no_media"  # SIP answered but RTP never came back (media probes)


@dataclass(frozen=True)
class ProbeResult:
    """What one probe found. `phases` are durations in ms; `facts` are extra details for operators.
    `targets`: when a name resolved to addresses, what each one answered (the same shape, one level)."""

    kind: str
    trunk: str
    target: str
    status: ProbeStatus
    started_at: float
    code: int | None = None
    reason: str | None = None
    rtt_ms: float | None = None
    phases: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    facts: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    targets: tuple[ProbeResult, ...] = ()

    @property
    def success(self) -> bool:
        return self.status is ProbeStatus.OK

    def summary(self) -> str:
        """One line an operator can read: `ok 200 OK in 0.4 ms`, `timeout after 2000 ms`."""
        if self.status is ProbeStatus.OK or self.status is ProbeStatus.REJECTED:
            rtt = f" in {self.rtt_ms:.1f} ms" if self.rtt_ms is not None else ""
            return f"{self.status.value} {self.code} {self.reason or ''}".rstrip() + rtt
        return f"{self.status.value}: {self.reason}" if self.reason else self.status.value

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "trunk": self.trunk, "target": self.target,
                "status": self.status.value, "code": self.code, "reason": self.reason,
                "rtt_ms": self.rtt_ms, "started_at": self.started_at,
                "phases": dict(self.phases), "facts": dict(self.facts),
                **({"targets": [t.as_dict() for t in self.targets]} if self.targets else {})}
