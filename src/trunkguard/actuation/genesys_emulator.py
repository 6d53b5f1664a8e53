"""A Genesys Cloud emulator: the real endpoint paths and JSON shapes the genesys adapter uses.

Serves (relative to the regional API base, and the login host's /oauth/token):
- `GET/PUT  /api/v2/telephony/providers/edges/sites/{siteId}/outboundroutes/{routeId}` (versioned)
- `GET/PUT  /api/v2/flows/datatables/{datatableId}/rows/{rowId}` (no version: last writer wins)
- `GET/PUT  /api/v2/telephony/providers/edges/trunkbasesettings/{trunkBaseSettingsId}` (versioned)
- `GET      /api/v2/telephony/providers/edges/trunks?trunkBase.id=...` (optionsStatus, inService)
- `GET      /api/v2/telephony/providers/edges/trunks/metrics?trunkIds=...`
A stale `version` answers 409 with Genesys' error body, or 400 "does not match the current
version" when `conflict_status` is 400 (both are seen in the wild). Faults as in emulator.py.
Only what the adapter needs is here; it is a test peer, not a Genesys Cloud.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkguard.actuation.emulator import EmulatorState, authorized, control, fault_gate, issue_token

EDGES = "/api/v2/telephony/providers/edges"


@dataclass
class GenesysState(EmulatorState):
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    trunk_bases: dict[str, dict[str, Any]] = field(default_factory=dict)
    trunks: dict[str, dict[str, Any]] = field(default_factory=dict)
    trunk_calls: dict[str, tuple[int, int]] = field(default_factory=dict)
    conflict_status: int = 409
    writes: list[str] = field(default_factory=list)

    def bump_versions(self) -> None:
        for obj in (*self.routes.values(), *self.trunk_bases.values()):
            obj["version"] += 1

    def first_trunk_base(self, route_id: str) -> str:
        return str(self.routes[route_id]["externalTrunkBases"][0]["id"])


def byoc_org(primary: str = "tb-carrier-a", secondary: str = "tb-carrier-b", *, site: str = "site-1",
             route: str = "route-1", table: str = "dt-carrier", row: str = "active") -> GenesysState:
    """A small BYOC Cloud org: two carrier trunk bases, one trunk each, one outbound route, one flag row."""
    state = GenesysState()
    for tb, name in ((primary, "Carrier A"), (secondary, "Carrier B")):
        state.trunk_bases[tb] = {
            "id": tb, "name": name, "version": 1, "state": "active", "trunkType": "EXTERNAL",
            "trunkMetabase": {"id": "external_sip_pcv_byoc_carrier.json", "name": "Generic BYOC Carrier"},
            "properties": {"trunk_enabled": {"type": "boolean", "value": {"default": True, "instance": True}},
                           "trunk_label": {"type": "string", "value": {"default": None, "instance": name}}},
            "managed": False, "selfUri": f"{EDGES}/trunkbasesettings/{tb}"}
        trunk_id = f"trunk-{tb}"
        state.trunks[trunk_id] = {
            "id": trunk_id, "name": f"{name} trunk", "version": 1, "state": "active", "trunkType": "EXTERNAL",
            "trunkBase": {"id": tb, "name": name}, "inService": True, "enabled": True,
            "connectedStatus": {"connected": True},
            "optionsStatus": [{"proxyAddress": f"sbc.{tb}.example", "optionState": True,
                               "optionStateTime": "2026-11-27T03:00:00Z"}],
            "optionsEnabledStatus": "ENABLED"}
        state.trunk_calls[trunk_id] = (0, 0)
    state.routes[route] = {
        "id": route, "name": "Default Outbound Route", "version": 1, "state": "active",
        "classificationTypes": ["National", "International"], "enabled": True, "distribution": "SEQUENTIAL",
        "externalTrunkBases": [{"id": primary, "name": "Carrier A", "selfUri": f"{EDGES}/trunkbasesettings/{primary}"},
                               {"id": secondary, "name": "Carrier B",
                                "selfUri": f"{EDGES}/trunkbasesettings/{secondary}"}],
        "managed": False, "site": {"id": site}, "selfUri": f"{EDGES}/sites/{site}/outboundroutes/{route}"}
    state.rows[(table, row)] = {"key": row, "activeCarrier": "primary", "trunkBaseId": primary}
    return state


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"status": status, "code": code, "message": message, "contextId": "emulator",
                         "details": [], "errors": []}, status_code=status)


def create_genesys_app(state: GenesysState) -> Starlette:
    async def gate(request: Request) -> Response | None:
        if (fault := await fault_gate(state, request)) is not None:
            return fault
        if not authorized(state, request):
            return _error(401, "authentication.required", "No authentication bearer token specified")
        return None

    async def versioned_put(request: Request, current: dict[str, Any], what: str) -> Response:
        try:
            body = await request.json()
            version = int(body["version"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "bad.request", f"{what}: a full object with its version is required")
        if version != current["version"]:
            if state.conflict_status == 400:
                return _error(400, "bad.request", f"The version {version} does not match the current version "
                                                  f"{current['version']}")
            return _error(409, "general.conflict", "The version number of the modified resource must match "
                                                   "the version number in the database.")
        updated = copy.deepcopy(body)
        updated.update({"id": current["id"], "version": current["version"] + 1, "selfUri": current.get("selfUri")})
        current.clear()
        current.update(updated)
        state.writes_applied += 1
        state.writes.append(what)
        return JSONResponse(current)

    async def route(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        current = state.routes.get(request.path_params["route_id"])
        if current is None or current["site"]["id"] != request.path_params["site_id"]:
            return _error(404, "not.found", "outbound route not found")
        if request.method == "GET":
            return JSONResponse(current)
        return await versioned_put(request, current, "outboundroute")

    async def trunk_base(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        current = state.trunk_bases.get(request.path_params["tb_id"])
        if current is None:
            return _error(404, "not.found", "trunk base settings not found")
        if request.method == "GET":
            return JSONResponse(current)
        response = await versioned_put(request, current, "trunkbasesettings")
        if response.status_code == 200:
            enabled = bool(current["properties"]["trunk_enabled"]["value"]["instance"])
            for trunk in state.trunks.values():
                if trunk["trunkBase"]["id"] == current["id"]:
                    trunk["inService"] = enabled  # Trunk.inService comes from trunk_enabled
        return response

    async def row(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        key = (request.path_params["table_id"], request.path_params["row_id"])
        if key not in state.rows:
            return _error(404, "not.found", "row not found")
        if request.method == "GET":
            brief = request.query_params.get("showbrief", "true") != "false"
            return JSONResponse({"key": key[1]} if brief else state.rows[key])
        body = await request.json()
        if not isinstance(body, dict) or body.get("key") != key[1]:
            return _error(400, "bad.request", "the row's key must match the row id")
        state.rows[key] = body
        state.writes_applied += 1
        state.writes.append("datatable row")
        return JSONResponse(body)

    async def trunks(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        base = request.query_params.get("trunkBase.id")
        entities = [t for t in state.trunks.values() if base in (None, t["trunkBase"]["id"])]
        return JSONResponse({"entities": entities, "pageSize": 25, "pageNumber": 1, "total": len(entities)})

    async def metrics(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        ids = [i for i in request.query_params.get("trunkIds", "").split(",") if i]
        return JSONResponse([{"eventTime": "2026-11-27T03:00:00Z", "trunk": {"id": i},
                              "calls": {"inboundCallCount": state.trunk_calls.get(i, (0, 0))[0],
                                        "outboundCallCount": state.trunk_calls.get(i, (0, 0))[1]},
                              "qos": {"mismatchCount": 0}} for i in ids if i in state.trunks])

    async def token(request: Request) -> Response:
        return await issue_token(state, request)

    async def faults(request: Request) -> Response:
        return await control(state, request)

    return Starlette(routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route(f"{EDGES}/sites/{{site_id}}/outboundroutes/{{route_id}}", route, methods=["GET", "PUT"]),
        Route(f"{EDGES}/trunkbasesettings/{{tb_id}}", trunk_base, methods=["GET", "PUT"]),
        Route(f"{EDGES}/trunks/metrics", metrics, methods=["GET"]),
        Route(f"{EDGES}/trunks", trunks, methods=["GET"]),
        Route("/api/v2/flows/datatables/{table_id}/rows/{row_id}", row, methods=["GET", "PUT"]),
        Route("/_emulator/faults", faults, methods=["POST"]),
    ])
