"""The guide's generic REST contract (section 3), for in-house middleware and other platforms.

- `GET  /api/v2/telephony/routes/rules/{id}`: the rule, with `action.trunkGroupId` and `version`.
- `PUT  /api/v2/telephony/routes/rules/{id}`: the guide's body (`action.type` `routeToTrunkGroup`,
  `trunkGroupId`, `queueId`, `fallback`) plus the `version` it was read at, and an
  `Idempotency-Key` header; a stale version answers 409.
- `GET  /api/v2/analytics/queues/realtime?queueId=...`: `{"queues": [{"queueId", "activeCalls"}]}`.
- `POST /oauth/token`: OAuth 2.0 client credentials.
Genesys Cloud itself has none of these endpoints (see research/platform_api.md); its adapter maps a
swap onto its real objects. A swap here is one change of one object: the rule's action.
"""

from __future__ import annotations

import copy
from typing import Any

from trunkguard.actuation.base import (
    Change,
    ObjectRef,
    PlatformError,
    RoutingState,
    Seen,
    Stage,
    VersionConflict,
    fields_match,
    fields_of,
    merged,
)
from trunkguard.actuation.http import PlatformHttp
from trunkguard.actuation.http import json_object as _json

RULES = "/api/v2/telephony/routes/rules"
REALTIME = "/api/v2/analytics/queues/realtime"


class GenericPlatform:
    def __init__(self, http: PlatformHttp, *, rule_id: str, queue_id: str | None = None,
                 fallback_queue_id: str | None = None) -> None:
        self.http = http
        self.rule_id = rule_id
        self.queue_id = queue_id
        self.fallback_queue_id = fallback_queue_id
        self.rule = ObjectRef("rule", rule_id, f"{RULES}/{rule_id}")

    async def read_routing(self) -> RoutingState:
        seen = await self.read(self.rule)
        try:
            return RoutingState(self.rule_id, str(seen.body["action"]["trunkGroupId"]), seen.version or 0, seen.body)
        except (KeyError, TypeError) as exc:
            raise PlatformError(f"rule {self.rule_id} not understood: missing {exc}") from None

    async def plan(self, target: str, restore: RoutingState | None) -> tuple[Stage, ...]:
        recorded = dict(restore.raw.get("action") or {}) if restore is not None else {}
        if recorded.get("trunkGroupId") == target:
            return ((Change(self.rule, {"action": recorded}, f"trunk group {target}, as recorded"),),)
        action: dict[str, Any] = {"type": "routeToTrunkGroup", "trunkGroupId": target}
        if self.queue_id:
            action["queueId"] = self.queue_id
        if self.fallback_queue_id:
            action["fallback"] = {"type": "routeToQueue", "queueId": self.fallback_queue_id}
        return ((Change(self.rule, {"action": action}, f"trunk group {target}"),),)

    async def read(self, ref: ObjectRef) -> Seen:
        response = await self.http.request("GET", ref.path)
        rule = _json(response, f"GET {ref.label}")
        try:
            return Seen(ref, int(rule["version"]), rule)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformError(f"{ref.label} not understood: no version ({exc})") from None

    async def write(self, base: Seen, change: Change, key: str) -> Seen:
        body = merged(copy.deepcopy(dict(base.body)), change.want)
        body["version"] = base.version
        response = await self.http.request("PUT", change.ref.path, json=body, headers={"Idempotency-Key": key})
        if response.status_code == 409:
            raise VersionConflict(f"{change.ref.label}: version {base.version} is stale")
        rule = _json(response, f"PUT {change.ref.label}")
        return Seen(change.ref, int(rule.get("version", (base.version or 0) + 1)), rule)

    def shows(self, seen: Seen, change: Change) -> bool:
        return fields_match(seen.body, change.want)

    def undo(self, before: Seen, change: Change) -> Change:
        was = fields_of(before.body, change.want)
        return Change(change.ref, was, f"back to trunk group {was.get('action', {}).get('trunkGroupId')}")

    async def active_calls(self) -> int:
        params = {"queueId": self.queue_id} if self.queue_id else None
        data = _json(await self.http.request("GET", REALTIME, params=params), "GET queue observations")
        try:
            return sum(int(q["activeCalls"]) for q in data["queues"]
                       if not self.queue_id or q["queueId"] == self.queue_id)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformError(f"queue observations not understood: {exc}") from None

    async def close(self) -> None:
        await self.http.close()

