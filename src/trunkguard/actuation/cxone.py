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
and write is last-writer-wins (the read-back shows whether ours is what stands).
"""

from __future__ import annotations

from typing import Any

from trunkguard.actuation.base import Change, ObjectRef, PlatformError, RoutingState, Seen, Stage
from trunkguard.actuation.http import PlatformHttp
from trunkguard.actuation.http import json_object as _json

CXONE_TOKEN_URL = "https://cxone.niceincontact.com/auth/token"  # noqa: S105 - a URL, not a password
PHONE = "4"  # CXone media type id of phone calls
WRITABLE = ("pointOfContactName", "skillId", "isActive", "scriptName", "ivrReportingEnabled", "chatProfileId")


class CxonePlatform:
    def __init__(self, http: PlatformHttp, *, point_of_contact_id: str) -> None:
        self.http = http
        self.poc_id = point_of_contact_id
        self.poc = ObjectRef("point of contact", point_of_contact_id, f"/points-of-contact/{point_of_contact_id}")

    async def read_routing(self) -> RoutingState:
        seen = await self.read(self.poc)
        if seen.body.get("skillId") in (None, ""):
            raise PlatformError(f"point of contact {self.poc_id} has no skillId")
        return RoutingState(self.poc_id, str(seen.body["skillId"]), 0, seen.body)

    async def plan(self, target: str, restore: RoutingState | None) -> tuple[Stage, ...]:
        return ((Change(self.poc, {"skillId": target}, f"skill {target}"),),)

    async def read(self, ref: ObjectRef) -> Seen:
        data = _json(await self.http.request("GET", ref.path), f"GET {ref.label}")
        return Seen(ref, None, _point_of_contact(data, ref))

    async def write(self, base: Seen, change: Change, key: str) -> Seen:
        body = {k: base.body[k] for k in WRITABLE if k in base.body}
        body["skillId"] = _skill(str(change.want["skillId"]))
        data = _json(await self.http.request("PUT", change.ref.path, json=body,
                                             headers={"X-Request-Id": key}),  # for NICE's logs only
                     f"PUT {change.ref.label}")
        return Seen(change.ref, None, _point_of_contact(data, change.ref))

    def shows(self, seen: Seen, change: Change) -> bool:
        return str(seen.body.get("skillId")) == str(change.want["skillId"])

    def undo(self, before: Seen, change: Change) -> Change:
        skill = str(before.body.get("skillId"))
        return Change(change.ref, {"skillId": skill}, f"back to skill {skill}")

    async def active_calls(self) -> int:
        response = await self.http.request("GET", "/contacts/active", params={"mediaTypeId": PHONE})
        if response.status_code == 204:
            return 0  # CXone answers 204 when nothing is active
        contacts = _json(response, "active contacts").get("activeContacts")
        if not isinstance(contacts, list):
            raise PlatformError("active contacts not understood: no activeContacts list")
        return sum(1 for c in contacts if str(c.get("mediaTypeId", PHONE)) == PHONE)

    async def close(self) -> None:
        await self.http.close()


def _point_of_contact(data: dict[str, Any], ref: ObjectRef) -> dict[str, Any]:
    found = data.get("pointsOfContact", data)
    if isinstance(found, list):
        found = found[0] if found else None
    if not isinstance(found, dict):
        raise PlatformError(f"{ref.label} not understood")
    return found


def _skill(value: str) -> int | str:
    return int(value) if value.isdigit() else value
