"""What the REST API answers, as pydantic models: the OpenAPI document's response schemas are generated
from them (api/schema.py), and tests/test_api_contract.py validates the running daemon's answers
against that document. The handlers build their JSON directly (api/view.py: one pass over thousands of
trunks, no model instances); these models describe it, they are not on the hot path.

Moments are ISO 8601 date-times in UTC (trunkguard/moments.py turns the epoch seconds inside into them
at the edge); durations are numbers of seconds with their unit in the name (`left_s`, `age_s`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trunkguard.core.failover import PairState, Trigger
from trunkguard.core.health import TrunkState
from trunkguard.store.intents import IntentStatus


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Model):
    """Every 4xx and 5xx answer of the API, 404 and 405 included."""

    error: str = Field(description="what went wrong, in a sentence (it names the parameter or field)")
    detail: Any = Field(None, description="more about it (the path of a 404, say), or null")


# ---- status ------------------------------------------------------------------------------------------------


class Sample(Model):
    at: datetime
    kind: str = Field(description="the probe: options, or a test call's media check")
    ok: bool
    code: int | None = Field(description="the SIP status code, if any answer came")
    rtt_ms: float | None
    detail: str


class TargetHealth(Model):
    target: str = Field(description="one address of a trunk given by name: transport:host:port")
    state: TrunkState
    since: datetime
    consecutive_failures: int
    last_detail: str


class TrunkFull(Model):
    """A trunk in full: with its addresses, samples and recent failures."""

    name: str
    carrier: str
    state: TrunkState
    since: datetime
    usable: bool
    consecutive_failures: int
    last_code: int | None
    last_detail: str
    media_ok: bool | None
    targets: list[TargetHealth]
    samples: list[Sample]
    recent_failures: list[Sample]


class TrunkBrief(Model):
    """A healthy trunk in the unfiltered status, or one past the PROBLEM_TRUNKS shown in full."""

    name: str
    state: TrunkState
    usable: bool = Field(True, description="given only for a trunk that is not UP or not usable")


class Carrier(Model):
    trunk_group_id: str
    trunks_total: int
    usable: int
    states: dict[str, int] = Field(description="trunks by state (only the states with a trunk)")
    trunks: list[TrunkFull | TrunkBrief]


class InFlight(Model):
    to: str
    key: str
    reason: str


class Queued(Model):
    since: datetime
    waited_s: float
    escalated: bool
    active_calls: int | None
    max_active_calls: int


class Person(Model):
    who: str
    why: str


class Acked(Person):
    at: datetime


class Maintenance(Person):
    trunk: str
    until: datetime


class ReadinessView(Model):
    sweep_ok: bool | None
    certs_ok: bool | None
    parity_ok: bool | None
    notes: dict[str, str]
    gates: list[str]
    not_configured: dict[str, str]


class Replica(Model):
    name: str
    holder: str


class Lease(Model):
    holder: str | None = Field(description="the replica holding the lease now; null while nobody does")
    term: int | None
    left_s: float | None = Field(description="seconds to its expiry on the store's clock")
    released: bool = Field(description="given up at a clean stop: no replica acts until one takes it")


class Member(Model):
    name: str
    kind: Literal["replica", "agent"]
    holder: str
    host: str
    pid: int
    age_s: float
    started_at: datetime
    view: dict[str, Any] | None


class VantageState(Model):
    name: str
    state: str
    age_s: float | None
    why: str
    self_: bool = Field(alias="self")


class Quorum(Model):
    need: int
    of: int
    primary_down: bool
    sentence: str
    vantages: list[VantageState]


class HeadlineLine(Model):
    level: Literal["ok", "info", "warning", "critical"]
    sentence: str


class Headline(Model):
    level: Literal["ok", "warning", "critical"]
    calls: str = Field(description="where calls go, in words")
    act: list[HeadlineLine] = Field(description="what a person must do, most urgent first")
    context: list[str]
    cooling_period: str


class GroupInFlight(Model):
    to: str = Field(description="the carrier the swap moves the group's calls to")
    key: str = Field(description="the swap's idempotency key")


class RoutingGroupStatus(Model):
    """One routing group at a glance (a config without `groups:` has one, `default`)."""

    name: str
    chain: list[str] = Field(description="the group's carriers, first choice first")
    active: str = Field(description="the carrier the group's calls go to")
    state: PairState
    since: datetime = Field(description="in this state since")
    in_flight: GroupInFlight | None = Field(description="the group's swap under way, or null")
    paused_by: str | None = Field(description="who paused the group's automatic actions, or null")
    routing_read: bool = Field(description="the platform's routing objects of the group have been read")
    last_sentence: str
    swaps: int = Field(ge=0)
    headline: Headline = Field(description="the group's header: its pair, chain, policy")


class Status(Model):
    """The daemon's status (`GET /api/v1/status`; `trunkguard status --json` prints it). The top-level
    pair fields (state, active, in flight, approval, pause, headline, ...) are the first routing
    group's, or with `?group=` that group's; `groups` has every group at a glance."""

    mode: Literal["act", "observe"]
    state: PairState
    active: str
    active_trunk_group: str
    since: datetime
    in_flight: InFlight | None
    queued_activation: Queued | None
    pending_approval: bool
    approval: Person | None
    paused: Person | None
    maintenance: list[Maintenance]
    swaps: int
    leader: bool
    term: int | None
    store_ok: bool
    active_calls: int | None
    edge_view: dict[str, bool | None]
    routing: dict[str, Any] | None
    routing_read: bool
    readiness: ReadinessView
    last_sentence: str
    carriers: dict[str, Carrier]
    notifications: dict[str, Any]
    replica: Replica | None
    lease: Lease | None = Field(description="null: no replica has ever held it")
    replicas: list[Member]
    vantages: Quorum | None
    headline: Headline
    groups: list[RoutingGroupStatus] = Field(min_length=1, description="every routing group, in config order")
    acked: Acked | None
    published_at: datetime


# ---- the other reads ---------------------------------------------------------------------------------------


class Decision(Model):
    id: int
    at: datetime
    kind: str
    sentence: str
    state: PairState
    active: str
    intent_key: str | None
    evidence: dict[str, Any]
    term: int
    group: str = Field(description="the routing group it was decided for (`default` without `groups:`)")


class History(Model):
    """One page of decisions, oldest first within the page. Pages count back from the newest: page 1 holds
    the newest `page_size` decisions (the default), page `pages` the oldest. A decision made meanwhile
    moves the older pages' rows along by one."""

    decisions: list[Decision]
    since: datetime | None = Field(description="the decisions at or after this moment only; null: all")
    page: int = Field(ge=1)
    pages: int = Field(ge=1, description="how many pages there are now")
    page_size: int = Field(ge=1, description="decisions to a page (`limit`)")
    total: int = Field(ge=0, description="decisions since `since` (all of them without it)")
    next: str | None = Field(description="the next page's URL (older decisions), or null on the last page")
    previous: str | None = Field(description="the previous page's URL (newer decisions), or null on page 1")


class Intent(Model):
    key: str
    to: str
    trunk_group_id: str
    trigger: Trigger
    reason: str
    status: IntentStatus
    outcome: str | None
    created_at: datetime
    finished_at: datetime | None
    term: int
    group: str = Field(description="the routing group whose objects the swap wrote")


class OperatorActionRecord(Model):
    kind: str
    who: str
    why: str
    at: datetime
    result: str | None
    used_at: datetime | None
    used_by: str | None
    group: str = Field(description="the routing group the action was for")


class Intents(Model):
    intents: list[Intent]
    operator_actions: list[OperatorActionRecord]


class CheckResult(Model):
    ok: bool
    at: datetime
    summary: str
    term: int | None


class Checks(Model):
    """The latest result of each readiness check on the secondary; null: never run."""

    sweep: CheckResult | None
    certs: CheckResult | None
    parity: CheckResult | None


class ActionAnswer(Model):
    """The daemon's sentences for the action, and the status after it (only the trunks not UP)."""

    sentences: list[str]
    status: Status


class Leader(Model):
    leader: bool
    term: int | None


class Health(Model):
    ok: bool
    leader: bool
    store_ok: bool


class OpenApiDocument(BaseModel):
    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (ErrorBody, Status, History, Intents, Checks, ActionAnswer, Leader,
                                                Health, OpenApiDocument)
