"""Genesys Cloud CX (BYOC Cloud): a carrier swap as a composite of real, versioned objects.

Genesys Cloud has no routing rule that points at a "trunk group", and DIDs are not bound to a
trunk: inbound calls arrive over whichever BYOC trunk the carrier delivers them to (the carriers
move the DIDs; both trunks stay configured). What trunkguard switches, in this order:

1. The site outbound route's ordered `externalTrunkBases`: the target carrier's trunk base first
   (`distribution: SEQUENTIAL` then retries the other one per call on retryable codes).
   `PUT /api/v2/telephony/providers/edges/sites/{siteId}/outboundroutes/{routeId}`, full object
   with the `version` read.
2. The Architect data-table row the inbound flows read as the active carrier (`datatable_id`,
   row `datatable_row`, fields `activeCarrier` = primary|secondary and `trunkBaseId`): the guide's
   Standard vs Failover IVR path. `PUT /api/v2/flows/datatables/{id}/rows/{rowId}` (no version).
3. Optionally (`manage_trunk_enabled`) the primary's trunk base `trunk_enabled` property: false
   while on the secondary, true again on failback.
   `PUT /api/v2/telephony/providers/edges/trunkbasesettings/{id}` with its `version`.

Each step is skipped when the object already says what is wanted (so a retry of one intent, or a
reconcile after a crash, writes only what is missing); each write is read back. A version
conflict (409, or 400 naming the version) is re-read and re-applied. If a later step fails, the
earlier ones are put back from the prior state read before the swap, so a swap is never left half
done. Genesys has no Idempotency-Key header; idempotency comes from comparing desired state.

A carrier's `trunk_group_id` in the config is its trunk base settings id. Live calls for the
breaker are the primary carrier's trunks' inbound + outbound call counts (`/trunks/metrics`). The
edge's own OPTIONS view of each carrier (`optionsStatus`, `inService`) is the second vantage point.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from trunkguard.actuation.base import PlatformError, RoutingState, VersionConflict
from trunkguard.actuation.http import PlatformHttp

EDGES = "/api/v2/telephony/providers/edges"
READ_ONLY = ("selfUri", "dateCreated", "dateModified", "modifiedBy", "createdBy", "modifiedByApp", "createdByApp")
CONFLICT_RETRIES = 3
log = logging.getLogger("trunkguard.genesys")


class GenesysPlatform:
    def __init__(self, http: PlatformHttp, *, site_id: str, outbound_route_id: str, primary_trunk_base: str,
                 secondary_trunk_base: str, datatable_id: str | None = None, datatable_row: str = "active",
                 manage_trunk_enabled: bool = False) -> None:
        self.http = http
        self.route_path = f"{EDGES}/sites/{site_id}/outboundroutes/{outbound_route_id}"
        self.route_id = outbound_route_id
        self.primary, self.secondary = primary_trunk_base, secondary_trunk_base
        self.row_path = f"/api/v2/flows/datatables/{datatable_id}/rows/{datatable_row}" if datatable_id else None
        self.row_key = datatable_row
        self.manage_trunk_enabled = manage_trunk_enabled

    # ---- reading ---------------------------------------------------------------------------

    async def read_routing(self) -> RoutingState:
        route = await self._get(self.route_path)
        bases = [str(b.get("id")) for b in route.get("externalTrunkBases") or []]
        if not bases:
            raise PlatformError(f"outbound route {self.route_id} has no external trunk bases")
        raw: dict[str, Any] = {"outboundRoute": route}
        current = bases[0]
        disagree: list[str] = []
        if self.row_path:
            row = await self._get(self.row_path, params={"showbrief": "false"})
            raw["dataTableRow"] = row
            if row.get("trunkBaseId") != current:
                disagree.append(f"data table row says {row.get('trunkBaseId')}")
        if self.manage_trunk_enabled:
            enabled = _trunk_enabled(await self._get(self._tb_path(self.primary), params={"ignoreHidden": "true"}))
            raw["primaryTrunkEnabled"] = enabled
            if enabled != (current == self.primary):
                disagree.append(f"primary trunk_enabled is {enabled}")
        if disagree:  # half-applied by someone: not equal to any carrier, so a swap completes it
            current = f"mixed:{current} ({'; '.join(disagree)})"
        return RoutingState(self.route_id, current, int(route.get("version", 0)), raw)

    async def active_calls(self) -> int:
        """Calls on the primary carrier's trunks now (inbound + outbound), from trunk metrics."""
        trunk_ids = [t["id"] for t in await self._trunks(self.primary)]
        if not trunk_ids:
            return 0
        response = await self.http.request("GET", f"{EDGES}/trunks/metrics", params={"trunkIds": ",".join(trunk_ids)})
        metrics = _json(response, "trunk metrics")
        try:
            return sum(int(m["calls"].get("inboundCallCount", 0)) + int(m["calls"].get("outboundCallCount", 0))
                       for m in metrics)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlatformError(f"trunk metrics not understood: {exc}") from None

    async def edge_view(self) -> dict[str, bool | None]:
        """Per carrier trunk base: does the Genesys edge see a trunk in service answering OPTIONS?
        None when it has no trunks or OPTIONS monitoring is off."""
        view: dict[str, bool | None] = {}
        for base in (self.primary, self.secondary):
            trunks = [t for t in await self._trunks(base) if t.get("optionsEnabledStatus", "ENABLED") == "ENABLED"]
            view[base] = None if not trunks else any(
                t.get("inService") and any(o.get("optionState") for o in t.get("optionsStatus") or [])
                for t in trunks)
        return view

    # ---- the swap ----------------------------------------------------------------------------

    async def apply_swap(self, trunk_group_id: str, *, idempotency_key: str, expected_version: int) -> RoutingState:
        if trunk_group_id not in (self.primary, self.secondary):
            raise PlatformError(f"{trunk_group_id} is neither carrier's trunk base ({self.primary}, {self.secondary})")
        role = "secondary" if trunk_group_id == self.secondary else "primary"
        undo: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        try:
            await self._route_first(trunk_group_id, expected_version, undo)
            if self.row_path:
                await self._row(role, trunk_group_id, idempotency_key, undo)
            if self.manage_trunk_enabled:
                await self._primary_enabled(role == "primary", undo)
            after = await self.read_routing()
            if after.trunk_group_id != trunk_group_id:
                raise PlatformError(f"read-back shows {after.trunk_group_id}, not {trunk_group_id}")
            return after
        except PlatformError as exc:
            failed_undo = []
            for what, step in reversed(undo):
                try:
                    await step()
                except PlatformError as undo_exc:
                    failed_undo.append(f"{what} ({undo_exc})")
            if failed_undo:
                raise PlatformError(f"{exc}; putting back the earlier steps failed for: {', '.join(failed_undo)}. "
                                    "The routing is partly switched: check it in Genesys Cloud") from None
            raise PlatformError(f"{exc}" + ("; earlier steps were put back" if undo else "")) from None

    async def _route_first(self, target: str, version: int,
                           undo: list[tuple[str, Callable[[], Awaitable[None]]]]) -> None:
        route = await self._get(self.route_path)
        prior = copy.deepcopy(route)
        for _ in range(CONFLICT_RETRIES):
            bases = list(route.get("externalTrunkBases") or [])
            if bases and bases[0].get("id") == target:
                return
            chosen = next((b for b in bases if b.get("id") == target), {"id": target})
            body = _writable(route)
            body["externalTrunkBases"] = [chosen, *[b for b in bases if b.get("id") != target]]
            body["version"] = int(route.get("version", version))
            response = await self.http.request("PUT", self.route_path, json=body)
            if _is_conflict(response):
                route = await self._get(self.route_path)
                continue
            _json(response, "outbound route update")
            undo.append(("the outbound route", lambda: self._restore_route(prior)))
            return
        raise VersionConflict(f"outbound route {self.route_id} kept changing under us ({CONFLICT_RETRIES} conflicts)")

    async def _restore_route(self, prior: dict[str, Any]) -> None:
        current = await self._get(self.route_path)
        body = _writable(current)
        body["externalTrunkBases"] = prior.get("externalTrunkBases")
        _json(await self.http.request("PUT", self.route_path, json=body), "outbound route restore")

    async def _row(self, role: str, target: str, key: str,
                   undo: list[tuple[str, Callable[[], Awaitable[None]]]]) -> None:
        assert self.row_path is not None
        row = await self._get(self.row_path, params={"showbrief": "false"})
        if row.get("activeCarrier") == role and row.get("trunkBaseId") == target:
            return
        body = {**row, "key": self.row_key, "activeCarrier": role, "trunkBaseId": target}
        _json(await self.http.request("PUT", self.row_path, json=body), "data table row update")
        path = self.row_path

        async def put_back() -> None:
            _json(await self.http.request("PUT", path, json=row), "data table row restore")

        undo.append(("the data table row", put_back))

    async def _primary_enabled(self, enabled: bool, undo: list[tuple[str, Callable[[], Awaitable[None]]]]) -> None:
        path = self._tb_path(self.primary)
        for _ in range(CONFLICT_RETRIES):
            base = await self._get(path, params={"ignoreHidden": "true"})
            if _trunk_enabled(base) == enabled:
                return
            body = _writable(base)
            body.setdefault("properties", {}).setdefault("trunk_enabled", {"type": "boolean", "value": {}})
            body["properties"]["trunk_enabled"].setdefault("value", {})["instance"] = enabled
            response = await self.http.request("PUT", path, json=body)
            if _is_conflict(response):
                continue
            _json(response, "trunk base update")
            undo.append(("the primary trunk base", lambda: self._primary_enabled(not enabled, [])))
            return
        raise VersionConflict(f"trunk base {self.primary} kept changing under us ({CONFLICT_RETRIES} conflicts)")

    # ---- helpers -----------------------------------------------------------------------------

    async def _trunks(self, base: str) -> list[dict[str, Any]]:
        response = await self.http.request("GET", f"{EDGES}/trunks", params={"trunkBase.id": base, "pageSize": "100"})
        entities = _json(response, "trunks").get("entities")
        if not isinstance(entities, list):
            raise PlatformError("trunks listing not understood: no entities")
        return [t for t in entities if isinstance(t, dict)]

    def _tb_path(self, base: str) -> str:
        return f"{EDGES}/trunkbasesettings/{base}"

    async def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        data = _json(await self.http.request("GET", path, params=params), f"GET {path}")
        if not isinstance(data, dict):
            raise PlatformError(f"GET {path}: not a JSON object")
        return data

    async def close(self) -> None:
        await self.http.close()


def _writable(obj: dict[str, Any]) -> dict[str, Any]:
    """PUTs are full replacements: the object as read, without its read-only fields."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if k not in READ_ONLY}


def _trunk_enabled(base: dict[str, Any]) -> bool:
    """The property's instance value; `"instance": null` (never set on this trunk) means its default."""
    value = ((base.get("properties") or {}).get("trunk_enabled") or {}).get("value") or {}
    instance = value.get("instance")
    return bool(value.get("default", True) if instance is None else instance)


def _is_conflict(response: httpx.Response) -> bool:
    if response.status_code == 409:
        return True
    return response.status_code == 400 and "does not match the current version" in response.text


def _json(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        try:
            message = response.json().get("message", "")
        except (ValueError, AttributeError):
            message = response.text[:200]
        raise PlatformError(f"{what}: HTTP {response.status_code}: {message}")
    try:
        return response.json()
    except ValueError as exc:
        raise PlatformError(f"{what}: answer is not JSON: {exc}") from None
