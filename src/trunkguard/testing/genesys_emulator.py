"""A Genesys Cloud emulator: the real endpoint paths and JSON shapes the genesys adapter uses.

Serves (relative to the regional API base, and the login host's /oauth/token):
- `GET/PUT  /api/v2/telephony/providers/edges/sites/{siteId}/outboundroutes/{routeId}` (versioned)
- `GET/PUT  /api/v2/flows/datatables/{datatableId}/rows/{rowId}` (no version: last writer wins)
- `GET/PUT  /api/v2/telephony/providers/edges/trunkbasesettings/{trunkBaseSettingsId}` (versioned): a
  Generic BYOC Carrier's `properties`, each `{"type", "value": {"default", "instance"}}` as the API
  gives them, media (`trunk_media_codec`, `trunk_media_dtmf_method`, ...) and transport
  (`trunk_transport_protocolVariant`, `trunk_transport_serverProxyList`, ...) included; an
  administrator's edit behind trunkguard's back is `set_property`, and `forbid_trunk_base` answers
  its reads 403 as for a client without `telephony:plugin:all`
- `GET      /api/v2/telephony/providers/edges/outboundroutes?externalTrunkBases.ids=...&site.id=...` (paged)
- `GET      /api/v2/telephony/providers/edges/trunks?trunkBase.id=...` (optionsStatus, inService)
- `GET      /api/v2/telephony/providers/edges/trunks/metrics?trunkIds=...`
- `POST     /api/v2/notifications/channels`, `PUT .../channels/{id}/subscriptions`, and the channel's
  WebSocket (`connectUri`): `v2.telephony.providers.edges.trunks.{trunkId}` events pushed when a
  trunk's OPTIONS state changes (`set_options`, or `POST /_emulator/trunks/{id}`), a
  `channel.metadata` heartbeat every `heartbeat` seconds, and the socket closed when the channel
  expires (`channel_ttl`, 24 h as on Genesys Cloud). A trunk base's `trunk_enabled` (a PUT, or an
  administrator's `set_trunk_enabled`) sets its trunks' `inService` and `connectedStatus`, and a
  change of `connectedStatus` is pushed, as Genesys does: the event has no `inService`.
A stale `version` answers 409 with Genesys' error body, or 400 "does not match the current
version" when `conflict_status` is 400 (both are seen in the wild). Faults (and `read_lag`) as in
emulator.py. A route PUT carrying fields an `OutboundRouteBase` does not have (`site`, `managed`)
is answered as Genesys would, and the fields are noted in `foreign_fields` for the tests.
Only what the adapter needs is here; it is a test peer, not a Genesys Cloud.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from trunkguard.testing.emulator import EmulatorState, authorized, control, fault_gate, issue_token

EDGES = "/api/v2/telephony/providers/edges"


@dataclass
class Channel:
    id: str
    expires: float
    topics: set[str] = field(default_factory=set)
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    connected: bool = False


@dataclass
class GenesysState(EmulatorState):
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    trunk_bases: dict[str, dict[str, Any]] = field(default_factory=dict)
    trunks: dict[str, dict[str, Any]] = field(default_factory=dict)
    trunk_calls: dict[str, tuple[int, int]] = field(default_factory=dict)
    conflict_status: int = 409
    writes: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # each write's object, by name ("row/dt/na", as history names it)
    foreign_fields: list[str] = field(default_factory=list)
    channels: dict[str, Channel] = field(default_factory=dict)
    channels_created: int = 0
    channel_ttl: float = 86400.0
    heartbeat: float = 30.0
    refuse_channels: bool = False
    forbidden_trunk_bases: set[str] = field(default_factory=set)  # GET answers 403 (missing permission)

    def set_options(self, trunk_id: str, answering: bool) -> float:
        """The edge's OPTIONS to this trunk start (or stop) being answered; subscribers are told.
        Returns when (time.time()) the change happened."""
        at = time.time()
        trunk = self.trunks[trunk_id]
        for status in trunk["optionsStatus"]:
            status["optionState"] = answering
            status["optionStateTime"] = dt.datetime.fromtimestamp(at, dt.UTC).isoformat()
        self.push_trunk(trunk_id)
        return at

    def set_trunk_enabled(self, trunk_base_id: str, enabled: bool) -> None:
        """An administrator (not trunkguard) sets a trunk base In-Service or Out-of-Service."""
        base = self.trunk_bases[trunk_base_id]
        base["properties"]["trunk_enabled"]["value"]["instance"] = enabled
        base["version"] += 1
        self.trunk_base_changed(trunk_base_id)

    def set_property(self, trunk_base_id: str, name: str, instance: Any) -> None:
        """An administrator (not trunkguard) sets one property of a trunk base in the Genesys UI: its
        instance value changes and the trunk base's version goes up."""
        base = self.trunk_bases[trunk_base_id]
        prop = base["properties"].setdefault(name, {"type": _json_type(instance), "value": {"default": None}})
        prop["value"]["instance"] = copy.deepcopy(instance)
        base["version"] += 1
        if name == "trunk_enabled":
            self.trunk_base_changed(trunk_base_id)

    def forbid_trunk_base(self, trunk_base_id: str) -> None:
        """Reads of this trunk base answer 403, as for an OAuth client whose role lacks
        telephony:plugin:all (or cannot see the trunk base's division)."""
        self.forbidden_trunk_bases.add(trunk_base_id)

    def trunk_base_changed(self, trunk_base_id: str) -> None:
        """Its trunks follow the base's trunk_enabled; a change of connectedStatus is pushed
        (`TrunkInstanceTopicTrunk` carries connectedStatus, never inService)."""
        value = self.trunk_bases[trunk_base_id]["properties"]["trunk_enabled"]["value"]
        enabled = bool(value.get("default", True) if value.get("instance") is None else value["instance"])
        for trunk_id, trunk in self.trunks.items():
            if trunk["trunkBase"]["id"] != trunk_base_id:
                continue
            trunk["inService"] = enabled
            if (trunk.get("connectedStatus") or {}).get("connected") is not enabled:
                trunk["connectedStatus"] = {"connected": enabled,
                                            "connectedStateTime": dt.datetime.now(dt.UTC).isoformat()}
                self.push_trunk(trunk_id)

    def add_trunk(self, trunk_id: str, trunk_base_id: str) -> dict[str, Any]:
        """Another trunk of this trunk base (another edge's), in the state of the base's first trunk."""
        like = next(t for t in self.trunks.values() if t["trunkBase"]["id"] == trunk_base_id)
        self.trunks[trunk_id] = {**copy.deepcopy(like), "id": trunk_id, "name": f"{like['name']} ({trunk_id})"}
        self.trunk_calls[trunk_id] = (0, 0)
        return self.trunks[trunk_id]

    def push_trunk(self, trunk_id: str) -> None:
        trunk = self.trunks[trunk_id]
        topic = f"v2.telephony.providers.edges.trunks.{trunk_id}"
        body: dict[str, Any] = {"id": trunk_id, "connectedStatus": trunk.get("connectedStatus"),
                "optionsStatus": trunk.get("optionsStatus"), "registersStatus": [], "ipStatus": None}
        for channel in self.channels.values():
            if topic in channel.topics:
                channel.outbox.put_nowait({"topicName": topic, "version": "2", "eventBody": copy.deepcopy(body),
                                           "metadata": {"CorrelationId": secrets.token_hex(8)}})

    def bump_versions(self) -> None:
        for obj in (*self.routes.values(), *self.trunk_bases.values()):
            obj["version"] += 1

    def first_trunk_base(self, route_id: str) -> str:
        return str(self.routes[route_id]["externalTrunkBases"][0]["id"])

    def order(self, route_id: str) -> list[str]:
        return [str(b["id"]) for b in self.routes[route_id]["externalTrunkBases"]]

    def add_route(self, route_id: str, site: str, bases: list[str], *, name: str | None = None,
                  classification: str = "National") -> dict[str, Any]:
        """Another outbound route, on any site, using these trunk bases in this order."""
        self.routes[route_id] = {
            "id": route_id, "name": name or f"Route {route_id}", "version": 1, "state": "active",
            "classificationTypes": [classification], "enabled": True, "distribution": "SEQUENTIAL",
            "externalTrunkBases": [{"id": b, "name": self.trunk_bases.get(b, {}).get("name", b),
                                    "selfUri": f"{EDGES}/trunkbasesettings/{b}"} for b in bases],
            "managed": False, "site": {"id": site, "name": site},
            "selfUri": f"{EDGES}/sites/{site}/outboundroutes/{route_id}"}
        return self.routes[route_id]


def byoc_org(primary: str = "tb-carrier-a", secondary: str = "tb-carrier-b", *, site: str = "site-1",
             route: str = "route-1", table: str = "dt-carrier", row: str = "active",
             more: tuple[str, ...] = ()) -> GenesysState:
    """A small BYOC Cloud org: two carrier trunk bases (and `more`, for a chain), one trunk each, one
    outbound route using them all in that order, one flag row."""
    state = GenesysState()
    bases = ((primary, "Carrier A", "198.51.100.0/24"), (secondary, "Carrier B", "203.0.113.0/24"),
             *((tb, f"Carrier {chr(ord('C') + i)}", f"192.0.2.{64 * i}/26") for i, tb in enumerate(more)))
    for tb, name, network in bases:
        state.trunk_bases[tb] = {
            "id": tb, "name": name, "version": 1, "state": "active", "trunkType": "EXTERNAL",
            "trunkMetabase": {"id": "external_sip_pcv_byoc_carrier.json", "name": "Generic BYOC Carrier"},
            "properties": byoc_carrier_properties(name, f"sbc.{tb}.example", network),
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
    state.add_route(route, site, [primary, secondary, *more], name="Default Outbound Route")
    state.routes[route]["classificationTypes"] = ["National", "International"]
    state.rows[(table, row)] = {"key": row, "activeCarrier": "primary", "trunkBaseId": primary}
    return state


def byoc_carrier_properties(label: str, proxy: str, network: str) -> dict[str, dict[str, Any]]:
    """A Generic BYOC Carrier trunk base's properties (the property names of real org exports and
    of the Genesys Terraform provider): media and transport set alike for every carrier, the rest
    (servers, termination identifier, credentials, ACL, label) its own. Some instances are null:
    those properties are in effect at their default, as on Genesys Cloud."""
    def prop(kind: str, default: Any, instance: Any) -> dict[str, Any]:
        return {"type": kind, "value": {"default": default, "instance": instance}}

    host = proxy.removeprefix("sbc.")
    return {
        "trunk_type": prop("string", "external.pcv.byoc.carrier", "external.pcv.byoc.carrier"),
        "trunk_label": prop("string", "Generic BYOC Carrier", label),
        "trunk_enabled": prop("boolean", True, True),
        "trunk_protocol": prop("string", "SIP", "SIP"),
        "trunk_sip_termination_uri": prop("string", None, f"{host}.byoc.lab.test"),
        "trunk_sip_authentication_credentials_realm": prop("string", "", host),
        "trunk_sip_authentication_credentials_username": prop("string", "", f"tg-{host}"),
        "trunk_sip_authentication_credentials_password": prop("string", "", ""),
        "trunk_access_acl_allowList": prop("array", [], [network]),
        "trunk_transport_serverProxyList": prop("array", None, [proxy]),
        "trunk_transport_protocolVariant": prop("string", "udp", "tls"),
        "trunk_transport_sipDscpValue": prop("integer", 24, None),
        "trunk_transport_retryableReasonCodes": prop("string", "500-599", "500-599"),
        "trunk_transport_retryableCauseCodes": prop("string", "1-5,25,27,28,31,34,38,41,42,44,46,62,63,79,91,96,"
                                                              "97,99,100,103", None),
        "trunk_transport_tcp_connectTimeout": prop("integer", 2, None),
        "trunk_media_codec": prop("array", ["audio/opus"], ["audio/pcmu", "audio/g729", "audio/pcma"]),
        "trunk_media_dtmf_method": prop("string", "RTP Events", "RTP Events"),
        "trunk_media_dtmf_payload": prop("integer", 101, 101),
        "trunk_media_dscpValue": prop("integer", 46, None),
        "trunk_media_srtpCipherSuites": prop("array", ["AES_CM_128_HMAC_SHA1_80"], None),
        "trunk_media_disconnectOnIdleRTP": prop("boolean", True, True),
    }


def _json_type(value: Any) -> str:
    return "boolean" if isinstance(value, bool) else "integer" if isinstance(value, int) else \
        "array" if isinstance(value, list) else "string"


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

    async def versioned_put(request: Request, current: dict[str, Any], what: str, name: str) -> Response:
        try:
            body = await request.json()
            version = int(body["version"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "bad.request", f"{what}: a full object with its version is required")
        if what == "outboundroute":
            state.foreign_fields.extend(k for k in ("site", "managed") if k in body)
            body.update({k: current[k] for k in ("site", "managed") if k in current})
        if version != current["version"]:
            if state.conflict_status == 400:
                return _error(400, "bad.request", f"The version {version} does not match the current version "
                                                  f"{current['version']}")
            return _error(409, "general.conflict", "The version number of the modified resource must match "
                                                   "the version number in the database.")
        updated = copy.deepcopy(body)
        updated.update({"id": current["id"], "version": current["version"] + 1, "selfUri": current.get("selfUri")})
        state.history.before_write(name, current)
        current.clear()
        current.update(updated)
        state.history.wrote(name, current)
        state.writes_applied += 1
        state.writes.append(what)
        state.written.append(name)
        return JSONResponse(current)

    async def route(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        current = state.routes.get(request.path_params["route_id"])
        if current is None or current["site"]["id"] != request.path_params["site_id"]:
            return _error(404, "not.found", "outbound route not found")
        name = f"route/{current['id']}"
        if request.method == "GET":
            return JSONResponse(state.history.read(name, current, state.read_lag))
        return await versioned_put(request, current, "outboundroute", name)

    async def routes(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        wanted = {i for i in request.query_params.get("externalTrunkBases.ids", "").split(",") if i}
        site = request.query_params.get("site.id")
        size, number = int(request.query_params.get("pageSize", "25")), int(request.query_params.get("pageNumber", "1"))
        seen = [state.history.read(f"route/{r['id']}", r, state.read_lag) for r in state.routes.values()]
        found = [r for r in seen if (not wanted or wanted & {b["id"] for b in r["externalTrunkBases"]})
                 and site in (None, r["site"]["id"])]
        page = found[(number - 1) * size:number * size]
        return JSONResponse({"entities": page, "pageSize": size, "pageNumber": number, "total": len(found),
                             "pageCount": max(1, -(-len(found) // size))})

    async def trunk_base(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        current = state.trunk_bases.get(request.path_params["tb_id"])
        if current is None:
            return _error(404, "not.found", "trunk base settings not found")
        name = f"trunkbase/{current['id']}"
        if current["id"] in state.forbidden_trunk_bases:
            return _error(403, "missing.any.permissions", "Unable to perform the requested action. You are missing "
                                                          "the following permission(s): telephony:plugin:all")
        if request.method == "GET":
            return JSONResponse(state.history.read(name, current, state.read_lag))
        response = await versioned_put(request, current, "trunkbasesettings", name)
        if response.status_code == 200:
            state.trunk_base_changed(current["id"])  # Trunk.inService comes from trunk_enabled
        return response

    async def row(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        key = (request.path_params["table_id"], request.path_params["row_id"])
        if key not in state.rows:
            return _error(404, "not.found", "row not found")
        name = f"row/{key[0]}/{key[1]}"
        if request.method == "GET":
            brief = request.query_params.get("showbrief", "true") != "false"
            return JSONResponse({"key": key[1]} if brief else state.history.read(name, state.rows[key], state.read_lag))
        body = await request.json()
        if not isinstance(body, dict) or body.get("key") != key[1]:
            return _error(400, "bad.request", "the row's key must match the row id")
        state.history.before_write(name, state.rows[key])
        state.rows[key] = body
        state.history.wrote(name, body)
        state.writes_applied += 1
        state.writes.append("datatable row")
        state.written.append(name)
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

    async def create_channel(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        if state.refuse_channels:
            return _error(403, "missing.permissions", "notifications are not allowed for this client")
        expired = [c for c in state.channels.values() if c.expires < time.time()]
        for c in expired:
            state.channels.pop(c.id, None)
        channel = Channel(secrets.token_hex(12), time.time() + state.channel_ttl)
        state.channels[channel.id] = channel
        state.channels_created += 1
        ws = str(request.base_url).replace("http://", "ws://").replace("https://", "wss://").rstrip("/")
        return JSONResponse({"id": channel.id, "connectUri": f"{ws}/channels/streaming-{channel.id}",
                             "expires": dt.datetime.fromtimestamp(channel.expires, dt.UTC).isoformat()})

    async def subscriptions(request: Request) -> Response:
        if (denied := await gate(request)) is not None:
            return denied
        channel = state.channels.get(request.path_params["channel_id"])
        if channel is None:
            return _error(404, "not.found", "channel not found")
        body = await request.json()
        if not isinstance(body, list) or len(body) > 1000:
            return _error(400, "bad.request", "a list of at most 1,000 topics is required")
        if request.method == "PUT":
            channel.topics.clear()
        entities = []
        for item in body:
            topic = str(item.get("id", ""))
            known = topic.startswith("v2.telephony.providers.edges.trunks.") and \
                topic.rsplit(".", 1)[-1] in state.trunks
            if known:
                channel.topics.add(topic)
            entities.append({"id": topic, "state": "Permitted" if known else "Rejected",
                             **({} if known else {"rejectionReason": "unknown topic"})})
        return JSONResponse({"entities": entities})

    async def stream(websocket: WebSocket) -> None:
        channel = state.channels.get(websocket.path_params["channel_id"].removeprefix("streaming-"))
        if channel is None or channel.connected:
            await websocket.close(code=4004)  # unknown, or one WebSocket per channel
            return
        await websocket.accept()
        channel.connected = True
        listener = asyncio.ensure_future(websocket.receive())  # the client's close (or a ping message)
        try:
            while channel.expires > time.time():
                getter = asyncio.ensure_future(channel.outbox.get())
                done, _ = await asyncio.wait({getter, listener}, timeout=min(channel.expires - time.time(),
                                                                             state.heartbeat),
                                             return_when=asyncio.FIRST_COMPLETED)
                if listener in done:
                    getter.cancel()
                    if listener.result().get("type") == "websocket.disconnect":
                        return
                    listener = asyncio.ensure_future(websocket.receive())
                    continue
                if getter in done:
                    await websocket.send_text(json.dumps(getter.result()))
                    continue
                getter.cancel()
                if channel.expires > time.time():
                    await websocket.send_text(json.dumps({"topicName": "channel.metadata",
                                                          "eventBody": {"message": "WebSocket Heartbeat"}}))
            await websocket.close(code=1000)
        except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            listener.cancel()
            channel.connected = False
            if channel.expires <= time.time():
                state.channels.pop(channel.id, None)

    async def trunk_control(request: Request) -> Response:
        body = await request.json()
        trunk_id = request.path_params["trunk_id"]
        if trunk_id not in state.trunks:
            return _error(404, "not.found", "trunk not found")
        return JSONResponse({"at": state.set_options(trunk_id, bool(body["optionState"]))})

    async def faults(request: Request) -> Response:
        return await control(state, request)

    return Starlette(routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route(f"{EDGES}/sites/{{site_id}}/outboundroutes/{{route_id}}", route, methods=["GET", "PUT"]),
        Route(f"{EDGES}/outboundroutes", routes, methods=["GET"]),
        Route(f"{EDGES}/trunkbasesettings/{{tb_id}}", trunk_base, methods=["GET", "PUT"]),
        Route(f"{EDGES}/trunks/metrics", metrics, methods=["GET"]),
        Route(f"{EDGES}/trunks", trunks, methods=["GET"]),
        Route("/api/v2/flows/datatables/{table_id}/rows/{row_id}", row, methods=["GET", "PUT"]),
        Route("/api/v2/notifications/channels", create_channel, methods=["POST"]),
        Route("/api/v2/notifications/channels/{channel_id}/subscriptions", subscriptions, methods=["PUT", "POST"]),
        WebSocketRoute("/channels/{channel_id}", stream),
        Route("/_emulator/faults", faults, methods=["POST"]),
        Route("/_emulator/trunks/{trunk_id}", trunk_control, methods=["POST"]),
    ])
