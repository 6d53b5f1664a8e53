"""What the machine folds in (events) and what it asks the world to do (effects): plain frozen
values, the daemon's and the simulator's only vocabulary with the machine (`core/machine.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from trunkguard.core.failover import DEFAULT_GROUP, Notify, OperatorAction, PairSnapshot, Readiness, Swap
from trunkguard.core.scheduler import ProbeTask
from trunkguard.core.vantage import VantageView

# ---- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """Time passed: hand out the probes due, and poll and decide when the poll interval is up."""


class TargetSeen(NamedTuple):
    """What one address of a trunk's name answered to one probe."""

    target: str  # transport:address:port
    ok: bool
    detail: str = ""


# How a probe ended, as the metrics count it: ok; timeout (no answer within the deadline); rejected (the
# peer answered, and the answer is a failure: a code outside the alive codes, a test call with no audio
# or audio over its limits); error (DNS, connection, TLS, an answer that cannot be parsed).
PROBE_OUTCOMES = ("ok", "timeout", "rejected", "error")


@dataclass(frozen=True)
class ProbeDone:
    """A probe's outcome. `targets`: each resolved address's, when the URI is a name; the machine
    then judges the trunk by its targets rule (any or all) rather than by `ok`."""

    trunk: str
    seq: int
    ok: bool
    code: int | None = None
    detail: str = ""
    rtt_ms: float | None = None
    targets: tuple[TargetSeen, ...] = ()
    outcome: str = ""  # one of PROBE_OUTCOMES; "" where not known (a simulated probe, an older trace)


@dataclass(frozen=True)
class ProbeLate:
    """A probe is still unanswered at T1 (500 ms): suspect the trunk now."""

    trunk: str
    seq: int


@dataclass(frozen=True)
class MediaDone:
    trunk: str
    ok: bool
    detail: str = ""
    outcome: str = ""  # as ProbeDone's


@dataclass(frozen=True)
class CallsRead:
    count: int | None
    detail: str = "read"
    group: str = DEFAULT_GROUP  # the routing group whose platform reported them


@dataclass(frozen=True)
class EdgeRead:
    view: tuple[tuple[str, bool | None], ...]  # carrier role -> the platform edge sees it in service
    as_of: float | None = None  # when the platform last confirmed it (pushed views); None: read just now


@dataclass(frozen=True)
class ChecksRead:
    """A carrier's readiness checks as stored (sweep, certificates, parity), read again."""

    readiness: Readiness
    carrier: str = "secondary"


@dataclass(frozen=True)
class OperatorDid:
    action: OperatorAction


@dataclass(frozen=True)
class SwapSettled:
    key: str
    applied: bool
    detail: str = ""
    attempted: bool = True  # False: never started (intent not stored, lease near expiry, stopping)
    group: str = DEFAULT_GROUP  # the routing group whose swap it was


@dataclass(frozen=True)
class LeaseChanged:
    leader: bool
    restored: PairSnapshot | None = None  # the stored snapshot, on taking the lease (the default group's)
    detail: str = ""
    await_routing: bool = False  # the platform's routing is being read: act only once RoutingRead says it
    restored_groups: tuple[tuple[str, PairSnapshot], ...] = ()  # with routing groups: each group's stored snapshot


@dataclass(frozen=True)
class RoutingRead:
    """Which carrier the platform routes to, as read from the routing objects trunkguard manages (on
    taking the lease, before any action). The platform is the truth: where it differs from the stored
    snapshot, the machine adopts it and says so; nothing is written to do this."""

    active: str | None  # a carrier role; None: the objects match neither carrier (a half-switched route)
    detail: str = ""  # what was read: "rule rule-1 version 7 routes to tg-secondary"
    when: str = "read at start-up"
    hold: bool = False  # a difference is a change behind trunkguard's back: pause rather than undo it
    group: str = DEFAULT_GROUP  # the routing group whose objects were read


@dataclass(frozen=True)
class VantagesRead:
    """The other vantages' latest views, as the store had them (each `at` on this process's clock)."""

    views: tuple[VantageView, ...]


Event = Tick | ProbeDone | ProbeLate | MediaDone | CallsRead | EdgeRead | ChecksRead | OperatorDid | SwapSettled \
    | LeaseChanged | VantagesRead | RoutingRead

# ---- effects ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendProbe:
    task: ProbeTask


@dataclass(frozen=True)
class Poll:
    """Read the active calls, the platform's edge view and the stored check results now."""


@dataclass(frozen=True)
class Record:
    """A decision row for the audit trail, with the snapshot after it. `trunk`: the trunk it is about."""

    kind: str
    sentence: str
    snapshot: PairSnapshot
    trunk: str | None = None
    group: str = DEFAULT_GROUP  # the routing group whose snapshot it carries


@dataclass(frozen=True)
class SavePair:
    snapshot: PairSnapshot
    group: str = DEFAULT_GROUP


@dataclass(frozen=True)
class RecordAction:
    """A person's action for the audit trail; it must be stored before the step is kept."""

    action: OperatorAction
    result: str


@dataclass(frozen=True)
class StartSwap:
    """Commit the intent (with this snapshot and sentence), then carry it out on the platform."""

    swap: Swap
    snapshot: PairSnapshot
    sentence: str
    group: str = DEFAULT_GROUP  # the routing group whose objects the swap writes


LogValue = str | int | float | bool
Level = Literal["info", "warning"]


@dataclass(frozen=True)
class Said:
    """One sentence as the logs carry it: `event` is its stable snake_case name (docs/logs.md lists
    every one, and a test holds the list to the code), `level` how much it matters to whoever reads
    the logs, `fields` the values it is about, each under its own name."""

    event: str
    sentence: str
    level: Level = "info"
    fields: tuple[tuple[str, LogValue], ...] = ()


@dataclass(frozen=True)
class Log:
    """A routine sentence (a suspicion raised or cleared): logged, not put in the audit trail."""

    said: Said

    @property
    def sentence(self) -> str:
        return self.said.sentence


Effect = SendProbe | Poll | Record | SavePair | RecordAction | StartSwap | Notify | Log
