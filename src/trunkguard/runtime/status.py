"""What the running service shows: the immutable status snapshot the loop publishes after each
batch of events (the API, `/metrics`, the CLI and the demo read it, never the runtime's parts), and
the evidence stored with each decision.

Evidence is bounded, whatever the number of trunks: a trunk's change carries that trunk's last ten
samples; a pair decision carries each carrier's counts and the first `EVIDENCE_TRUNKS` trunks
that are not usable, with their samples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trunkguard.core.failover import PairSnapshot, Role
from trunkguard.core.health import TrunkHealth
from trunkguard.core.machine import MachineRules, MachineState
from trunkguard.core.vantage import judge
from trunkguard.runtime.headline import headline
from trunkguard.runtime.lease import Identity
from trunkguard.runtime.probes import Samples
from trunkguard.runtime.vantages import Roll

KEEP_VIEW = 60  # samples per trunk shown in status (the RTT history)
EVIDENCE_TRUNKS = 20


@dataclass(frozen=True)
class Facts:
    """The runtime's own facts, besides the machine's state."""

    term: int | None = None
    leader: bool = False
    store_ok: bool = True
    routing: Mapping[str, Any] | None = None
    notifications: Mapping[str, Any] = field(default_factory=dict)
    decisions: int = 0  # decisions recorded
    cycles: int = 0  # batches of events folded in
    roll: Roll = field(default_factory=Roll)  # the replicas and agents, and who leads, as last read from the store
    me: Identity | None = None


@dataclass(frozen=True)
class Status:
    state: MachineState
    rules: MachineRules
    groups: Mapping[str, str]
    facts: Facts
    samples: Samples
    at: float

    @property
    def pair(self) -> PairSnapshot:
        return self.state.pair

    @property
    def health(self) -> Mapping[str, TrunkHealth]:
        return MappingProxyType({h.name: h for h in self.state.trunks})

    @property
    def leader(self) -> bool:
        return self.facts.leader

    @property
    def store_ok(self) -> bool:
        return self.facts.store_ok

    @property
    def last_sentence(self) -> str:
        return self.state.last_sentence

    @property
    def calls(self) -> int | None:
        return self.state.calls

    @property
    def edge(self) -> dict[str, bool | None]:
        return dict(self.state.edge)

    def as_json(self) -> dict[str, Any]:
        snap, policy = self.state.pair, self.rules.policy
        queued = None
        if snap.queued_since is not None and snap.in_flight is None:
            queued = {"since": snap.queued_since, "waited_s": round(self.at - snap.queued_since, 1),
                      "escalated": snap.escalated, "active_calls": self.state.calls,
                      "max_active_calls": policy.max_active_calls}
        flight = snap.in_flight
        return {
            "mode": "observe" if policy.observe else "act",
            "state": snap.state.value, "active": snap.active.value,
            "active_trunk_group": self.groups[snap.active.value], "since": snap.since,
            "in_flight": None if flight is None else
            {"to": flight.to.value, "key": flight.key, "reason": flight.reason},
            "queued_activation": queued,
            "pending_approval": snap.state.value == "failback_pending" and policy.failback_mode == "approval"
            and snap.approval is None,
            "approval": None if snap.approval is None else {"who": snap.approval.who, "why": snap.approval.why},
            "paused": None if snap.paused is None else {"who": snap.paused.who, "why": snap.paused.why},
            "maintenance": [{"trunk": m.trunk, "who": m.who, "why": m.why, "until": m.until}
                            for m in snap.maintenance],
            "swaps": snap.swaps, "leader": self.facts.leader, "term": self.facts.term, "store_ok": self.facts.store_ok,
            "active_calls": self.state.calls, "edge_view": dict(self.state.edge),
            "routing": None if self.facts.routing is None else dict(self.facts.routing),
            "last_sentence": self.state.last_sentence,
            "carriers": {role.value: {"trunk_group_id": self.groups[role.value],
                                      "trunks": [trunk_view(h, self.samples) for h in self.state.trunks
                                                 if h.carrier == role.value]}
                         for role in Role},
            "notifications": dict(self.facts.notifications),
            "replica": None if self.facts.me is None else {"name": self.facts.me.name, "holder": self.facts.me.holder},
            "lease": {"holder": self.facts.roll.leader, "term": self.facts.roll.term,
                      "left_s": self.facts.roll.lease_left},
            "replicas": [m.as_json() for m in self.facts.roll.members],
            "vantages": vantage_view(self.state, self.rules, self.at),
            "headline": headline(self),
            "acked": None if snap.acked is None else {"who": snap.acked.who, "why": snap.acked.why,
                                                      "at": snap.acked.at},
            "published_at": self.at,
        }


def vantage_view(state: MachineState, rules: MachineRules, now: float) -> dict[str, Any] | None:
    """How each configured vantage counts for the primary now, and the verdict (None: no quorum)."""
    quorum = rules.policy.quorum
    if not quorum.active:
        return None
    obs = state.observation(rules, now)
    verdict = judge("primary", obs.vantages, obs.edge.get("primary"), obs.edge_as_of, now, quorum)
    return {"need": quorum.need, "of": quorum.counted, "primary_down": verdict.down, "sentence": verdict.words,
            "vantages": [{"name": v.name, "state": v.state, "age_s": None if v.age is None else round(v.age, 2),
                          "why": v.why, "self": v.name == rules.vantage} for v in verdict.vantages]}


def trunk_view(h: TrunkHealth, samples: Samples, keep: int = KEEP_VIEW) -> dict[str, Any]:
    recent = samples.recent.get(h.name, ())[-keep:]
    return {"name": h.name, "carrier": h.carrier, "state": h.state.value, "since": h.since, "usable": h.usable,
            "consecutive_failures": len(h.failed), "last_code": h.last_code, "last_detail": h.last_detail,
            "media_ok": h.media_ok,
            "targets": [{"target": t.target, "state": t.state.value, "since": t.since, "consecutive_failures": t.fails,
                         "last_detail": t.detail} for t in h.targets],
            "samples": [s.as_dict() for s in recent],
            "recent_failures": [s.as_dict() for s in samples.failures.get(h.name, ())]}


def evidence(state: MachineState, rules: MachineRules, samples_of: Callable[[list[str]], Samples],
             trunk: str | None = None, now: float | None = None) -> dict[str, Any]:
    """Stored with a decision: what it rested on, bounded in size whatever the number of trunks."""
    if trunk is not None:
        i = rules.index.get(trunk)
        return {"trunks": [] if i is None else [trunk_view(state.trunks[i], samples_of([trunk]), 10)]}
    carriers: dict[str, dict[str, int]] = {}
    unusable: list[TrunkHealth] = []
    for h in state.trunks:
        counts = carriers.setdefault(h.carrier, {"trunks": 0, "usable": 0})
        counts["trunks"] += 1
        counts["usable"] += h.usable
        if not h.usable and len(unusable) < EVIDENCE_TRUNKS:
            unusable.append(h)
    samples = samples_of([h.name for h in unusable])
    r = state.readiness
    quorum = vantage_view(state, rules, now) if now is not None else None
    return {"carriers": carriers, "trunks": [trunk_view(h, samples, 10) for h in unusable],
            **({"vantages": quorum} if quorum is not None else {}),
            "active_calls": state.calls, "active_calls_detail": state.calls_detail,
            "readiness": {"sweep_ok": r.sweep_ok, "certs_ok": r.certs_ok, "parity_ok": r.parity_ok,
                          "notes": dict(r.notes),
                          "not_configured": {gate: f"not configured ({why})"
                                             for gate, why in rules.policy.unconfigured}}}
