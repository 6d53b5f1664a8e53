"""Vantages: several places that probe the same carriers, and the quorum that judges them together.

Each process that probes (a replica, leader or standby, or a `trunkguard agent` at another site)
folds its own probe outcomes into its own trunk health (core/health.py), and from that states its
view: which carriers it sees down by their rule, which it reaches at all (some trunk answering SIP),
which it sees hard down (no trunk answering), and which trunks it sees failing. The views travel
through the store (runtime/vantages.py); the leader's machine holds the latest of each and, when
vantages are configured, counts the primary down only when `need` of the live ones agree.

Not counted, and named as isolated in the sentence:
- a vantage that reaches no carrier at all (its own network is down, not the carriers);
- a vantage that sees the primary down while it is still confirming a trunk of another carrier:
  when a host loses its network its trunks fail one by one, and for a moment it would vote "down".
  (With a quorum, a primary trunk's suspicion also re-checks the other carriers at once, so such a
  doubt shows within a probe's T1, before the primary's own confirmation can end); and
- a vantage not heard of for `stale_after` (its reports stopped: a dead agent, a cut link).
The platform's edge view counts as one more vantage when `edge` is on: down when the platform sees
no trunk of the carrier in service, isolated when it has no view or its view is too old.

The quorum counts configured vantages, not live ones: with three configured and a majority rule,
two must agree even when the third is isolated. One vantage alone can then never move the routing,
whichever one loses its network (the deployment guide, docs/deployment.md, has the trade-off).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from trunkguard.core.health import TrunkHealth, TrunkState
from trunkguard.core.wording import format_duration

EDGE = "edge"
FAILING_KEPT = 64  # trunks named in a view's `failing` (enough to start confirmations elsewhere)


@dataclass(frozen=True)
class VantageView:
    """One vantage's view of the carriers, `at` when it was heard (the reader's clock)."""

    name: str
    at: float
    down: tuple[str, ...] = ()      # carriers down by their rule from here
    hard: tuple[str, ...] = ()      # carriers of which no trunk answers SIP from here
    reaches: tuple[str, ...] = ()   # carriers of which some trunk answers SIP from here
    failing: tuple[str, ...] = ()   # trunks not up from here (at most FAILING_KEPT)
    doubt: tuple[str, ...] = ()     # carriers with a trunk being confirmed (SUSPECT) from here

    def as_json(self) -> dict[str, object]:
        return {"down": list(self.down), "hard": list(self.hard), "reaches": list(self.reaches),
                "failing": list(self.failing), "doubt": list(self.doubt)}

    @classmethod
    def from_json(cls, name: str, at: float, data: Mapping[str, object]) -> VantageView:
        def names(key: str) -> tuple[str, ...]:
            value = data.get(key)
            return tuple(str(v) for v in value) if isinstance(value, list) else ()
        return cls(name, at, names("down"), names("hard"), names("reaches"), names("failing")[:FAILING_KEPT],
                   names("doubt"))


def view_of(name: str, trunks: Iterable[TrunkHealth], down: Callable[[str, int], bool], now: float) -> VantageView:
    """This process's own view, from its trunks' health and the carriers' down rule."""
    usable: dict[str, int] = {}
    answering: dict[str, int] = {}
    failing: list[str] = []
    doubt: set[str] = set()
    for t in trunks:
        usable[t.carrier] = usable.get(t.carrier, 0) + t.usable
        answering[t.carrier] = answering.get(t.carrier, 0) + (t.state is not TrunkState.DOWN)
        if t.state is not TrunkState.UP and len(failing) < FAILING_KEPT:
            failing.append(t.name)
        if t.state is TrunkState.SUSPECT:
            doubt.add(t.carrier)
    carriers = sorted(usable)
    return VantageView(name, now, tuple(c for c in carriers if down(c, usable[c])),
                       tuple(c for c in carriers if not answering[c]),
                       tuple(c for c in carriers if answering[c]), tuple(failing), tuple(sorted(doubt)))


@dataclass(frozen=True)
class QuorumRules:
    """`names`: the configured vantages; `need`: how many must see a carrier down (0: no quorum,
    this process's own view alone judges, as with one replica)."""

    names: tuple[str, ...] = ()
    need: int = 0
    edge: bool = False
    stale_after: float = 5.0
    edge_stale_after: float = 20.0  # the edge view is read at each poll, so it ages by the poll interval

    @property
    def active(self) -> bool:
        return self.need > 0

    @property
    def counted(self) -> int:
        return len(self.names) + self.edge


@dataclass(frozen=True)
class VantageState:
    """How one configured vantage counts right now: down, up, or isolated (with why)."""

    name: str
    state: str  # down | up | isolated
    age: float | None  # seconds since heard; None: never
    why: str = ""
    hard: bool = False


@dataclass(frozen=True)
class Verdict:
    down: bool
    hard: bool  # the vantages that see it down see no trunk answering at all (a hard outage)
    words: str
    vantages: tuple[VantageState, ...]


def states(carrier: str, views: Mapping[str, VantageView], edge: bool | None, edge_at: float | None, now: float,
           rules: QuorumRules) -> tuple[VantageState, ...]:
    """Each configured vantage's count for `carrier`, in configured order (the edge last)."""
    out: list[VantageState] = []
    for name in rules.names:
        v = views.get(name)
        if v is None:
            out.append(VantageState(name, "isolated", None, "never heard from"))
            continue
        age = max(0.0, now - v.at)
        if age > rules.stale_after:
            out.append(VantageState(name, "isolated", age, f"not heard from for {format_duration(round(age, 1))}"))
        elif not v.reaches:
            out.append(VantageState(name, "isolated", age, "reaches nothing"))
        elif carrier in v.down and set(v.doubt) - {carrier}:  # losing its own network, not yet every trunk
            others = ", ".join(sorted(set(v.doubt) - {carrier}))
            out.append(VantageState(name, "isolated", age, f"is re-checking {others} too: its own network is in doubt"))
        else:
            out.append(VantageState(name, "down" if carrier in v.down else "up", age, hard=carrier in v.hard))
    if rules.edge:
        edge_age = None if edge_at is None else max(0.0, now - edge_at)
        if edge is None:
            out.append(VantageState(EDGE, "isolated", edge_age, "the platform gives no view"))
        elif edge_age is not None and edge_age > rules.edge_stale_after:
            out.append(VantageState(EDGE, "isolated", edge_age, f"its view is {format_duration(round(edge_age))} old"))
        else:
            out.append(VantageState(EDGE, "up" if edge else "down", edge_age, hard=not edge))
    return tuple(out)


def judge(carrier: str, views: Mapping[str, VantageView], edge: bool | None, edge_at: float | None, now: float,
          rules: QuorumRules) -> Verdict:
    """Is `carrier` down by the quorum? With the sentence that names every vantage that counts, or not."""
    seen = states(carrier, views, edge, edge_at, now, rules)
    down = [s for s in seen if s.state == "down"]
    isolated = [f"{s.name} {s.why}: isolated" for s in seen if s.state == "isolated"]
    note = f" ({'; '.join(isolated)})" if isolated else ""
    total = rules.counted
    if len(down) >= rules.need:
        hard = sum(s.hard for s in down) >= rules.need
        return Verdict(True, hard, f"{carrier} down from {len(down)} of {total} vantages{note}", seen)
    if not down:
        return Verdict(False, False, f"{carrier} up from every vantage that counts{note}", seen)
    names = ", ".join(s.name for s in down)
    return Verdict(False, False, f"{carrier} down only from {names}: {len(down)} of {total} vantages, "
                                 f"{rules.need} needed{note}", seen)
