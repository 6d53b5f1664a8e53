"""The guide's generic REST contract (section 3), for in-house middleware and other platforms.

- `GET  /api/v2/telephony/routes/rules/{id}`: the rule, with `action.trunkGroupId` and `version`.
- `PUT  /api/v2/telephony/routes/rules/{id}`: the guide's body (`action.type` `routeToTrunkGroup`,
  `trunkGroupId`, `queueId`, `fallback`) plus the `version` it was read at, and an
  `Idempotency-Key` header; a stale version answers 409.
- `GET  /api/v2/analytics/queues/realtime?queueId=...`: `{"queues": [{"queueId", "activeCalls"}]}`.
- `POST /oauth/token`: OAuth 2.0 client credentials.
Genesys Cloud itself has none of these endpoints (see research/platform_api.md); its adapter maps a
swap onto its real objects.
"""

from __future__ import annotations

import copy
from typing import Any

from trunkguard.actuation.base import PlatformError, RoutingState, VersionConflict
from trunkguard.actuation.http import PlatformHttp

RULES = "/api/v2/telephony/routes/rules"
REALTIME = "/api/v2/analytics/queues/realtime"
CONFLICT_RETRIES = 3


class GenericPlatform:
    def __init__(self, http: PlatformHttp, *, rule_id: str, queue_id: str | None = None,
                 fallback_queue_id: str | None = None) -> None:
        self.http = http
        self.rule_id = rule_id
        self.queue_id = queue_id
        self.fallback_queue_id = fallback_queue_id

    async def read_routing(self) -> RoutingState:
        response = await self.http.request("GET", f"{RULES}/{self.rule_id}")
        if response.status_code != 200:
            raise PlatformError(f"GET rule {self.rule_id}: HTTP {response.status_code}")
        return self._state(_json(response))

    async def apply_swap(self, trunk_group_id: str, *, idempotency_key: str, expected_version: int) -> RoutingState:
        """Point the rule at `trunk_group_id`; on a version conflict re-read and re-apply; read back."""
        current = await self.read_routing()
        version = expected_version
        for _ in range(CONFLICT_RETRIES):
            if current.trunk_group_id == trunk_group_id:
                return current  # already there: an earlier attempt of this intent, or someone else
            body = self._body(current.raw, trunk_group_id, version)
            response = await self.http.request("PUT", f"{RULES}/{self.rule_id}", json=body,
                                               headers={"Idempotency-Key": idempotency_key})
            if response.status_code == 409:
                current = await self.read_routing()
                version = current.version
                continue
            if response.status_code not in (200, 201):
                raise PlatformError(f"PUT rule {self.rule_id}: HTTP {response.status_code}: {response.text[:200]}")
            after = await self.read_routing()
            if after.trunk_group_id != trunk_group_id:
                raise PlatformError(f"read-back of rule {self.rule_id} shows trunk group {after.trunk_group_id}, "
                                    f"not {trunk_group_id}")
            return after
        raise VersionConflict(f"rule {self.rule_id} kept changing under us ({CONFLICT_RETRIES} conflicts)")

    async def active_calls(self) -> int:
        params = {"queueId": self.queue_id} if self.queue_id else None
        response = await self.http.request("GET", REALTIME, params=params)
        if response.status_code != 200:
            raise PlatformError(f"GET queue observations: HTTP {response.status_code}")
        try:
            queues = _json(response)["queues"]
            return sum(int(q["activeCalls"]) for q in queues if not self.queue_id or q["queueId"] == self.queue_id)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformError(f"queue observations not understood: {exc}") from None

    async def close(self) -> None:
        await self.http.close()

    def _state(self, rule: dict[str, Any]) -> RoutingState:
        try:
            return RoutingState(self.rule_id, str(rule["action"]["trunkGroupId"]), int(rule["version"]), rule)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlatformError(f"rule {self.rule_id} not understood: missing {exc}") from None

    def _body(self, raw: Any, trunk_group_id: str, version: int) -> dict[str, Any]:
        body = copy.deepcopy(dict(raw))
        action = dict(body.get("action") or {})
        action.update({"type": "routeToTrunkGroup", "trunkGroupId": trunk_group_id})
        if self.queue_id:
            action["queueId"] = self.queue_id
        if self.fallback_queue_id:
            action["fallback"] = {"type": "routeToQueue", "queueId": self.fallback_queue_id}
        body.update({"action": action, "version": version})
        return body


def _json(response: Any) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise PlatformError(f"answer is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PlatformError("answer is not a JSON object")
    return data
