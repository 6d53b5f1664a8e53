"""What the running service shows: the immutable `StatusView` the loop publishes after each batch of
events (the API, `/metrics`, the CLI, `cycle` and the demo read it, never the runtime's parts nor the
machine's state), and the evidence stored with each decision.

Evidence is bounded, whatever the number of trunks: a trunk's change carries that trunk's last ten
samples; a pair decision carries each carrier's counts and the first `EVIDENCE_TRUNKS` trunks
that are not usable, with their samples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trunkguard.core.failover import DEFAULT_GROUP, PairSnapshot, PolicyRules, Readiness
from trunkguard.core.health import TrunkHealth, TrunkState
from trunkguard.core.machine import MachineRules, MachineState
from trunkguard.core.vantage import judge
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
    routings: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)  # each group's, with groups


@dataclass(frozen=True)
class PolicyView:
    """The few policy settings readers show (the header, the status JSON, metrics), not the machine's rules."""

    observe: bool
    max_active_calls: int
    failback_mode: str
    cooling_period: float
    gates: frozenset[str]
    unconfigured: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, policy: PolicyRules) -> PolicyView:
        return cls(policy.observe, policy.max_active_calls, policy.failback_mode, policy.cooling_period,
                   policy.gates, policy.unconfigured)


@dataclass(frozen=True)
class CarrierView:
    """One carrier at a glance: its trunks counted by state, computed once per change of its trunks."""

    role: str
    trunk_group_id: str
    trunks: int
    usable: int
    states: tuple[tuple[str, int], ...]  # (state, count), in TrunkState order, counts above 0 only

    def as_json(self) -> dict[str, Any]:
        return {"trunk_group_id": self.trunk_group_id, "trunks_total": self.trunks, "usable": self.usable,
                "states": dict(self.states)}


def carrier_views(trunks: Sequence[TrunkHealth], groups: Mapping[str, str]) -> tuple[CarrierView, ...]:
    counts: dict[str, dict[TrunkState, int]] = {role: {} for role in groups}
    usable = dict.fromkeys(groups, 0)
    for h in trunks:
        by_state = counts.setdefault(h.carrier, {})
        by_state[h.state] = by_state.get(h.state, 0) + 1
        usable[h.carrier] = usable.get(h.carrier, 0) + h.usable
    return tuple(CarrierView(role, groups.get(role, ""), sum(c.values()), usable.get(role, 0),
                             tuple((state.value, c[state]) for state in TrunkState if c.get(state)))
                 for role, c in counts.items())


@dataclass(frozen=True)
class GroupView:
    """One routing group at a glance: where its calls go (its pair), its chain, its readiness for the
    carrier after its first, whether its routing has been read, its last sentence, its policy."""

    name: str
    chain: tuple[str, ...]
    pair: PairSnapshot
    readiness: Readiness
    routing_read: bool
    last_sentence: str
    policy: PolicyView
    calls: int | None = None  # live calls its platform reports (the breaker's input)
    calls_detail: str = ""

    @property
    def carriers(self) -> frozenset[str]:
        return frozenset(self.chain)


@dataclass(frozen=True)
class StatusView:
    """What the service publishes after each batch of events, for every reader (the API, `/metrics`, the
    CLI, `cycle`, the demo): the pair, every trunk's health (the machine's immutable row, shared, not
    copied), per-carrier summaries, what was read from the platform, the policy's few visible
    settings and the runtime's facts. Readers never see the machine's state or rules."""

    at: float
    pair: PairSnapshot
    trunks: Sequence[TrunkHealth]  # in config order
    index: Mapping[str, int]       # trunk name -> position in `trunks`
    carriers: tuple[CarrierView, ...]
    groups: Mapping[str, str]      # carrier role -> trunk group id
    policy: PolicyView
    facts: Facts
    samples: Samples
    calls: int | None = None
    calls_detail: str = ""
    readiness: Readiness = field(default_factory=Readiness)
    edge_view: Mapping[str, bool | None] = field(default_factory=dict)
    edge_as_of: float | None = None
    routing_read: bool = True
    last_sentence: str = ""
    vantages: Mapping[str, Any] | None = None  # the quorum's verdict view (vantage_view), None without one
    routing_groups: tuple[GroupView, ...] = ()  # every routing group, in config order (the first is `pair`'s)

    def group(self, name: str) -> GroupView | None:
        return next((g for g in self.group_views() if g.name == name), None)

    def group_views(self) -> tuple[GroupView, ...]:
        """Every routing group, in config order; a view built without them (the store's record, a test's) is
        one group, `default`, made of its top-level pair, chain, policy and calls."""
        if self.routing_groups:
            return self.routing_groups
        return (GroupView(DEFAULT_GROUP, tuple(self.groups), self.pair, self.readiness, self.routing_read,
                          self.last_sentence, self.policy, self.calls, self.calls_detail),)

    @property
    def health(self) -> Mapping[str, TrunkHealth]:
        return MappingProxyType({h.name: h for h in self.trunks})

    @property
    def leader(self) -> bool:
        return self.facts.leader

    @property
    def store_ok(self) -> bool:
        return self.facts.store_ok

    @property
    def edge(self) -> dict[str, bool | None]:
        return dict(self.edge_view)

    def carrier(self, role: str) -> CarrierView | None:
        return next((c for c in self.carriers if c.role == role), None)

    def __repr__(self) -> str:
        return (f"<StatusView {self.pair.state.value} active={self.pair.active} {len(self.trunks)} trunks "
                f"leader={self.leader}>")


def publish(state: MachineState, rules: MachineRules, groups: Mapping[str, str], facts: Facts, samples: Samples,
            now: float, before: StatusView | None = None) -> StatusView:
    """The view of `state`; carrier summaries are carried over from `before` while the trunks are the same."""
    carriers = before.carriers if before is not None and before.trunks is state.trunks \
        else carrier_views(state.trunks, groups)
    policy = before.policy if before is not None else PolicyView.of(rules.policy)
    policies = [b.policy for b in before.routing_groups] if before is not None and before.routing_groups else \
        [PolicyView.of(g.policy) for g in rules.groups]
    views = tuple(GroupView(g.name, r.policy.chain, g.pair, state.readiness_of(r.policy.chain[1]), g.routing_read,
                            g.last_sentence, p, g.calls, g.calls_detail)
                  for g, r, p in zip(state.groups, rules.groups, policies, strict=True))
    return StatusView(now, state.pair, state.trunks, rules.index, carriers, groups, policy, facts, samples,
                      state.calls, state.calls_detail, state.readiness_of(rules.policy.chain[1]), dict(state.edge),
                      state.edge_as_of,
                      state.routing_read, state.last_sentence, vantage_view(state, rules, now), views)


def vantage_view(state: MachineState, rules: MachineRules, now: float) -> dict[str, Any] | None:
    """How each configured vantage counts for the primary now, and the verdict (None: no quorum)."""
    quorum = rules.policy.quorum
    if not quorum.active:
        return None
    obs = state.observation(rules, now)
    first = rules.policy.first
    verdict = judge(first, obs.vantages, obs.edge.get(first), obs.edge_as_of, now, quorum)
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
             trunk: str | None = None, now: float | None = None, group: str | None = None) -> dict[str, Any]:
    """Stored with a decision: what it rested on, bounded in size whatever the number of trunks. With
    routing groups, a group's decision rests on its own carriers only."""
    gi = rules.group_index.get(group or "", 0)
    chain = rules.groups[gi].policy.chain
    if trunk is not None:
        i = rules.index.get(trunk)
        return {"trunks": [] if i is None else [trunk_view(state.trunks[i], samples_of([trunk]), 10)]}
    carriers: dict[str, dict[str, int]] = {}
    unusable: list[TrunkHealth] = []
    trunks = state.trunks if len(rules.groups) == 1 else [state.trunks[i] for i in rules.group_trunks[gi]]
    for h in trunks:
        counts = carriers.setdefault(h.carrier, {"trunks": 0, "usable": 0})
        counts["trunks"] += 1
        counts["usable"] += h.usable
        if not h.usable and len(unusable) < EVIDENCE_TRUNKS:
            unusable.append(h)
    samples = samples_of([h.name for h in unusable])
    r = state.readiness_of(chain[1])
    quorum = vantage_view(state, rules, now) if now is not None else None
    return {"carriers": carriers, "trunks": [trunk_view(h, samples, 10) for h in unusable],
            **({"vantages": quorum} if quorum is not None else {}),
            "active_calls": state.groups[gi].calls, "active_calls_detail": state.groups[gi].calls_detail,
            "readiness": {"sweep_ok": r.sweep_ok, "certs_ok": r.certs_ok, "parity_ok": r.parity_ok,
                          "notes": dict(r.notes),
                          "not_configured": {gate: f"not configured ({why})"
                                             for gate, why in rules.groups[gi].policy.unconfigured}},
            **({"readiness_by_carrier": {c: {"sweep_ok": x.sweep_ok, "certs_ok": x.certs_ok, "parity_ok": x.parity_ok,
                                             "notes": dict(x.notes)} for c, x in state.readiness if c in chain}}
               if len(chain) > 2 else {}),
            **({"group": rules.groups[gi].name} if len(rules.groups) > 1 else {})}
