"""A platform of one routing object, in memory: what the `Platform` protocol asks of an adapter, with
switches for the failures a test needs (reads failing, writes refused, a write that never shows)."""

from __future__ import annotations

from typing import Any

from trunkguard.actuation.base import Change, ObjectRef, RoutingState, Seen, Stage, fields_match, fields_of, merged
from trunkguard.errors import PlatformError, Refused, VersionConflict

RULE = ObjectRef("rule", "rule-1", "/rules/rule-1")


class MemoryPlatform:
    def __init__(self, trunk_group_id: str = "tg-primary", *, calls: int = 0) -> None:
        self.body: dict[str, Any] = {"trunkGroupId": trunk_group_id}
        self.version = 1
        self.calls = calls
        self.writes: list[tuple[str, dict[str, Any]]] = []  # (idempotency key, what was written)
        self.fail_reads = False
        self.refuse_writes = False
        self.closed = False

    async def read_routing(self) -> RoutingState:
        seen = await self.read(RULE)
        return RoutingState(RULE.id, str(seen.body["trunkGroupId"]), self.version, dict(seen.body))

    async def plan(self, target: str, restore: RoutingState | None) -> tuple[Stage, ...]:
        return ((Change(RULE, {"trunkGroupId": target}, f"trunk group {target}"),),)

    async def read(self, ref: ObjectRef) -> Seen:
        if self.fail_reads:
            raise PlatformError(f"GET {ref.path}: no answer (the test's platform is down)")
        return Seen(ref, self.version, dict(self.body))

    async def write(self, base: Seen, change: Change, key: str) -> Seen:
        if self.refuse_writes:
            raise Refused(f"PUT {change.ref.path}: HTTP 403: the test's platform refuses")
        if base.version != self.version:
            raise VersionConflict(f"PUT {change.ref.path}: version {base.version} is not {self.version}")
        self.body = merged(self.body, change.want)
        self.version += 1
        self.writes.append((key, dict(change.want)))
        return Seen(change.ref, self.version, dict(self.body))

    def shows(self, seen: Seen, change: Change) -> bool:
        return fields_match(seen.body, change.want)

    def undo(self, before: Seen, change: Change) -> Change:
        return Change(change.ref, fields_of(before.body, change.want), f"back to {before.body.get('trunkGroupId')}")

    async def active_calls(self) -> int:
        if self.fail_reads:
            raise PlatformError("GET calls: no answer (the test's platform is down)")
        return self.calls

    async def close(self) -> None:
        self.closed = True

    @property
    def routed_to(self) -> str:
        return str(self.body["trunkGroupId"])

    def __repr__(self) -> str:
        return f"<MemoryPlatform routed to {self.routed_to} v{self.version}, {len(self.writes)} writes>"


__all__ = ["RULE", "MemoryPlatform"]
