"""NICE CXone: what its public API can do for a carrier failover, and no more.

CXone exposes no public API for carriers, SIP trunks or trunk groups: voice connectivity is
provisioned by NICE, and moving DIDs between carriers is done by the carriers or NICE. What this
adapter does with what CXone does expose (Admin and Real-Time Data APIs, `/inContactAPI/services/vNN.0`):

- The routing workaround: a swap re-points one phone point of contact (the DNIS the carriers
  deliver) at another skill: `PUT /points-of-contact/{id}` with `skillId`, then read back with
  `GET /points-of-contact/{id}`. A carrier's `trunk_group_id` in the config is the skill id its
  calls should reach (for instance a skill whose script plays the failover path).
- The breaker: live phone contacts from `GET /contacts/active?mediaTypeId=4`.
- Auth: OAuth2 password grant with an access key (`username` = access key id, `password` = its
  secret) and the registered application's client id and secret in HTTP Basic, at `login_url`
  (default `https://cxone.niceincontact.com/auth/token`). `base_url` is the tenant's API base from
  discovery, e.g. `https://api-c47.nice-incontact.com/inContactAPI/services/v27.0`.

What it cannot do, said plainly: it does not switch carriers or trunks; it reads no trunk health
(no edge vantage point); CXone's PUT has no version or ETag, so a concurrent edit between our read
and write is last-writer-wins (the read-back catches it and the swap is reported failed).
"""

from __future__ import annotations

from typing import Any

from trunkguard.actuation.base import PlatformError, RoutingState
from trunkguard.actuation.http import PlatformHttp

CXONE_TOKEN_URL = "https://cxone.niceincontact.com/auth/token"  # noqa: S105 - a URL, not a password
PHONE = "4"  # CXone media type id of phone calls
WRITABLE = ("pointOfContactName", "skillId", "isActive", "scriptName", "ivrReportingEnabled", "chatProfileId")


class CxonePlatform:
    def __init__(self, http: PlatformHttp, *, point_of_contact_id: str) -> None:
        self.http = http
        self.poc_id = point_of_contact_id
        self.path = f"/points-of-contact/{point_of_contact_id}"

    async def read_routing(self) -> RoutingState:
        poc = await self._point_of_contact()
        if poc.get("skillId") in (None, ""):
            raise PlatformError(f"point of contact {self.poc_id} has no skillId")
        return RoutingState(self.poc_id, str(poc["skillId"]), 0, poc)

    async def apply_swap(self, trunk_group_id: str, *, idempotency_key: str, expected_version: int) -> RoutingState:
        current = await self._point_of_contact()
        if str(current.get("skillId")) == trunk_group_id:
            return RoutingState(self.poc_id, trunk_group_id, 0, current)
        body = {k: current[k] for k in WRITABLE if k in current}
        body["skillId"] = _skill(trunk_group_id)
        response = await self.http.request("PUT", self.path, json=body,
                                           headers={"X-Request-Id": idempotency_key})  # for NICE's logs only
        if response.status_code >= 300:
            raise PlatformError(f"PUT point of contact {self.poc_id}: HTTP {response.status_code}: "
                                f"{response.text[:200]}")
        after = await self.read_routing()
        if after.trunk_group_id != trunk_group_id:
            raise PlatformError(f"read-back of point of contact {self.poc_id} shows skill {after.trunk_group_id}, "
                                f"not {trunk_group_id} (someone else edited it)")
        return after

    async def active_calls(self) -> int:
        response = await self.http.request("GET", "/contacts/active", params={"mediaTypeId": PHONE})
        if response.status_code == 204:
            return 0  # CXone answers 204 when nothing is active
        data = _json(response, "active contacts")
        contacts = data.get("activeContacts")
        if not isinstance(contacts, list):
            raise PlatformError("active contacts not understood: no activeContacts list")
        return sum(1 for c in contacts if str(c.get("mediaTypeId", PHONE)) == PHONE)

    async def close(self) -> None:
        await self.http.close()

    async def _point_of_contact(self) -> dict[str, Any]:
        data = _json(await self.http.request("GET", self.path), f"point of contact {self.poc_id}")
        found = data.get("pointsOfContact", data)
        if isinstance(found, list):
            found = found[0] if found else None
        if not isinstance(found, dict):
            raise PlatformError(f"point of contact {self.poc_id} not understood")
        return found


def _skill(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _json(response: Any, what: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise PlatformError(f"{what}: HTTP {response.status_code}: {response.text[:200]}")
    try:
        data = response.json()
    except ValueError as exc:
        raise PlatformError(f"{what}: answer is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PlatformError(f"{what}: not a JSON object")
    return data
