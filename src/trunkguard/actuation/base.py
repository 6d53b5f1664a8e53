"""What every platform adapter is: a reader and writer of the platform's own objects.

An adapter knows its platform's objects (a rule, outbound routes, a data-table row, a trunk base,
a point of contact), how to read and write one, and which objects a swap to a carrier changes, in
which order. It knows nothing of retries after a conflict, of read-back, of eventual consistency
or of putting things back: that protocol lives once, in `actuation/swap.py`, for every adapter.
Foreign errors (httpx, JSON, HTTP statuses) become the errors below at the adapter's boundary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from trunkguard.errors import AuthError, PlatformError, Refused, TrunkSettingsUnreadable, VersionConflict


@dataclass(frozen=True)
class RoutingState:
    """Where inbound routing points now, as one carrier (or `mixed:...` when its objects disagree).
    `raw` holds the objects as read (kept in the intent, so failback can restore them)."""

    rule_id: str
    trunk_group_id: str
    version: int
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectRef:
    """One platform object a swap may write."""

    kind: str   # "rule", "outbound route", "data table row", "trunk base", "point of contact"
    id: str
    path: str   # where it is read and written

    @property
    def label(self) -> str:
        return f"{self.kind} {self.id}"


@dataclass(frozen=True)
class Seen:
    """An object as a read returned it, or as a write's answer returned it."""

    ref: ObjectRef
    version: int | None          # None: the platform keeps no version for this object
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Change:
    """What one object should say after a swap: the fields named in `want`, nothing else touched."""

    ref: ObjectRef
    want: Mapping[str, Any]
    says: str                    # for people: "tb-carrier-b first", "activeCarrier secondary"


Stage = tuple[Change, ...]  # changes that may be written together; stages run in order


class Platform(Protocol):
    async def read_routing(self) -> RoutingState: ...

    async def plan(self, target: str, restore: RoutingState | None) -> tuple[Stage, ...]:
        """The changes that move routing to `target`, in order. With `restore` (the routing recorded
        before the swap being undone), objects go back to what it recorded where it said `target`."""
        ...

    async def read(self, ref: ObjectRef) -> Seen: ...

    async def write(self, base: Seen, change: Change, key: str) -> Seen:
        """Write `base` with `change` applied (a whole-object PUT at `base.version` where versioned).
        Returns the object as the answer gave it. Raises VersionConflict, Refused or PlatformError."""
        ...

    def shows(self, seen: Seen, change: Change) -> bool:
        """Does `seen` already say what `change` wants?"""
        ...

    def undo(self, before: Seen, change: Change) -> Change:
        """The change that puts back what `before` said for the fields `change` names."""
        ...

    async def active_calls(self) -> int: ...

    async def close(self) -> None: ...


@runtime_checkable
class EdgeView(Protocol):
    """Optional: the platform's own view of each carrier (trunk group id -> does its edge see a
    trunk in service answering OPTIONS; None: no view). Genesys Cloud has one; the others do not."""

    async def edge_view(self) -> dict[str, bool | None]: ...


class EdgeFeed(Protocol):
    """Optional: the same view pushed by the platform. `run` publishes (view, as of) on every change
    and confirmation until `stop`; while `live` is false the runtime polls `EdgeView` instead."""

    live: bool

    async def run(self, publish: Callable[[dict[str, bool | None], float], None], stop: asyncio.Event) -> None: ...


@runtime_checkable
class TrunkSettingsReader(Protocol):
    """Optional: each carrier's trunk settings as the platform has them, by carrier role ("primary",
    "secondary"): `{"id", "name", "values": {property: value in effect}}`. Genesys Cloud has them (its
    trunk bases); the generic contract and CXone do not. Raises TrunkSettingsUnreadable."""

    async def trunk_settings(self) -> dict[str, Mapping[str, Any]]: ...


__all__ = ["AuthError", "Change", "EdgeFeed", "EdgeView", "ObjectRef", "Platform", "PlatformError", "Refused",
           "RoutingState", "Seen", "Stage", "TrunkSettingsReader", "TrunkSettingsUnreadable", "VersionConflict",
           "fields_match", "fields_of", "merged"]


def fields_match(body: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    """Every field `want` names has that value in `body` (nested mappings compared the same way)."""
    for name, value in want.items():
        if isinstance(value, Mapping):
            inner = body.get(name)
            if not isinstance(inner, Mapping) or not fields_match(inner, value):
                return False
        elif body.get(name) != value:
            return False
    return True


def fields_of(body: Mapping[str, Any], like: Mapping[str, Any]) -> dict[str, Any]:
    """What `body` says for the fields `like` names (the shape of an undo)."""
    out: dict[str, Any] = {}
    for name, value in like.items():
        if isinstance(value, Mapping):
            inner = body.get(name)
            out[name] = fields_of(inner if isinstance(inner, Mapping) else {}, value)
        else:
            out[name] = body.get(name)
    return out


def merged(body: Mapping[str, Any], want: Mapping[str, Any]) -> dict[str, Any]:
    """`body` with the fields of `want` set (nested mappings merged the same way)."""
    out = dict(body)
    for name, value in want.items():
        inner = out.get(name)
        out[name] = merged(inner, value) if isinstance(value, Mapping) and isinstance(inner, Mapping) \
            else (dict(value) if isinstance(value, Mapping) else value)
    return out
