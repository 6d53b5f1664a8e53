"""The `Platform` protocol every adapter implements, its state type and its errors.

An adapter reads the inbound routing, applies a swap with an idempotency key and the version it
expects, reads it back, and counts live calls. Foreign errors (httpx, JSON, HTTP statuses) become
PlatformError subclasses at the adapter's boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from trunkguard.errors import TrunkguardError


@dataclass(frozen=True)
class RoutingState:
    """Where inbound routing points now. `raw` is the platform's own record (kept for reversal)."""

    rule_id: str
    trunk_group_id: str
    version: int
    raw: Mapping[str, Any] = field(default_factory=dict)


class PlatformError(TrunkguardError):
    """The platform could not do what was asked within the deadline. Routing may be unchanged."""


class AuthError(PlatformError):
    """The platform refused our credentials."""


class VersionConflict(PlatformError):
    """The rule changed since it was read (someone else wrote it)."""


class Platform(Protocol):
    async def read_routing(self) -> RoutingState: ...

    async def apply_swap(self, trunk_group_id: str, *, idempotency_key: str,
                         expected_version: int) -> RoutingState: ...

    async def active_calls(self) -> int: ...

    async def close(self) -> None: ...


@runtime_checkable
class EdgeView(Protocol):
    """Optional: the platform's own view of each carrier (trunk group id -> does its edge see a
    trunk in service answering OPTIONS; None: no view). Genesys Cloud has one; the others do not."""

    async def edge_view(self) -> dict[str, bool | None]: ...
