"""The tables. Times are wall-clock seconds since the epoch (floats), as the runtime's clock gives them.

Every row that records a side effect carries `term`: the lease term of the replica that wrote it
(a fencing token). Migrations live in `migrations/`; `Store.migrate()` runs them.

Routing groups (independent carrier chains, e.g. NA and EMEA) share one store and one lease: the pair
snapshot, decisions, intents and people's actions carry their `group`'s name; a store from before
groups holds the "default" group's. Checks are per carrier (carriers are shared) and carry none.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DEFAULT_GROUP = "default"  # the routing group of a config without groups (config.py names the same)
GROUP_LENGTH = 64


def check_group(group: str) -> str:
    """A routing group's name as stored: 1 to 64 characters (ValueError otherwise, on SQLite as on PostgreSQL)."""
    if not 0 < len(group) <= GROUP_LENGTH:
        raise ValueError(f"a routing group's name is 1 to {GROUP_LENGTH} characters, not {group!r}")
    return group


def group_column(*, unique: bool = False) -> Mapped[str]:
    return mapped_column("group", String(GROUP_LENGTH), nullable=False, server_default=DEFAULT_GROUP, index=True,
                         unique=unique)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class Lease(Base):
    """Who may act. One row per lease name; `term` grows by one at every change of holder.
    `expires_at` is on the store's clock (the replicas' clocks never judge it)."""

    __tablename__ = "lease"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    term: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)


class MemberRow(Base):
    """A replica or a vantage agent: one row per process, heartbeated on the store's clock. `view`
    is its vantage's latest view of the carriers (core/vantage.py), None before its first."""

    __tablename__ = "members"
    holder: Mapped[str] = mapped_column(String(200), primary_key=True)  # host/pid/random: one process
    name: Mapped[str] = mapped_column(String(64), index=True)  # the configured name (a vantage's)
    kind: Mapped[str] = mapped_column(String(16))  # replica | agent
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[float] = mapped_column(Float)
    seen_at: Mapped[float] = mapped_column(Float, index=True)
    view: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class PairStateRow(Base):
    """Each routing group's latest pair snapshot (one row a group), restored at start-up. The row of a
    store from before groups (id 1) is the "default" group's; a new group's row gets a new id."""

    __tablename__ = "pair_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group: Mapped[str] = group_column(unique=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    term: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[float] = mapped_column(Float)


class DecisionRow(Base):
    """One decision that changed something or said something new, with the evidence behind it."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group: Mapped[str] = group_column()
    at: Mapped[float] = mapped_column(Float, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    sentence: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))
    active: Mapped[str] = mapped_column(String(64))
    intent_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    term: Mapped[int] = mapped_column(Integer)


class IntentRow(Base):
    """A swap: written before acting, finished with its outcome. `prior` is the routing before it."""

    __tablename__ = "intents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group: Mapped[str] = group_column()
    key: Mapped[str] = mapped_column(String(255), unique=True)
    to_role: Mapped[str] = mapped_column(String(64))
    trunk_group_id: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    outcome: Mapped[str] = mapped_column(Text, default="")
    prior: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    term: Mapped[int] = mapped_column(Integer)


class OperatorActionRow(Base):
    """A person's action (failover, failback approval, pause, resume, cancel): who, why, when.
    An approval is single use: `used_at` and `used_by` are set when a swap consumes it."""

    __tablename__ = "operator_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group: Mapped[str] = group_column()
    kind: Mapped[str] = mapped_column(String(16))
    who: Mapped[str] = mapped_column(String(200))
    why: Mapped[str] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Float)
    result: Mapped[str] = mapped_column(Text, default="")
    used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    term: Mapped[int] = mapped_column(Integer)


class CheckRow(Base):
    """One result of a readiness check (sweep, certs, parity) or of a media test call: what it
    found, when, and under which lease term it was written (None: a command run outside the daemon)."""

    __tablename__ = "checks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check: Mapped[str] = mapped_column(String(16), index=True)
    carrier: Mapped[str] = mapped_column(String(64))
    trunk: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[float] = mapped_column(Float, index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    term: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TraceRow(Base):
    """One event the machine folded in, as the daemon fed it: replayed by `trunkguard replay`."""

    __tablename__ = "trace_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    kind: Mapped[str] = mapped_column(String(24))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    term: Mapped[int] = mapped_column(Integer)
