"""A NICE CXone emulator for the contract tests: a point of contact, active contacts, and the
password-grant token with an access key. The shapes follow the public Admin and Real-Time Data
APIs as third-party clients use them (research/platform_api.md section 4)."""

from __future__ import annotations

import base64
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkguard.testing.emulator import EmulatorState, authorized, control, fault_gate


@dataclass
class CxoneState(EmulatorState):
    access_key_id: str = "AKID"
    access_key_secret: str = "aks"  # noqa: S105 - the emulator's own lab credential
    points_of_contact: dict[str, dict[str, Any]] = field(default_factory=dict)
    active: list[dict[str, Any]] = field(default_factory=list)


def tenant(poc: str = "poc-1", skill: str = "1001") -> CxoneState:
    state = CxoneState()
    state.points_of_contact[poc] = {"pointOfContactId": poc, "pointOfContactName": "+15550000001",
                                    "skillId": int(skill), "isActive": True, "scriptName": "Inbound_Main",
                                    "mediaTypeId": 4, "ivrReportingEnabled": False}
    return state


def create_cxone_app(state: CxoneState) -> Starlette:
    async def token(request: Request) -> Response:
        if (fault := await fault_gate(state, request)) is not None:
            return fault
        expected = base64.b64encode(f"{state.client_id}:{state.client_secret}".encode()).decode()
        form = urllib.parse.parse_qs((await request.body()).decode())
        if (request.headers.get("authorization") != f"Basic {expected}" or form.get("grant_type") != ["password"]
                or form.get("username") != [state.access_key_id]
                or form.get("password") != [state.access_key_secret]):
            return JSONResponse({"error": "invalid_grant"}, status_code=401)
        value = secrets.token_hex(16)
        state.tokens[value] = time.monotonic() + state.token_ttl
        return JSONResponse({"access_token": value, "token_type": "Bearer", "expires_in": state.token_ttl})

    async def poc(request: Request) -> Response:
        if (fault := await fault_gate(state, request)) is not None:
            return fault
        if not authorized(state, request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        current = state.points_of_contact.get(request.path_params["poc_id"])
        if current is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        name = f"poc/{request.path_params['poc_id']}"
        if request.method == "GET":
            return JSONResponse({"pointsOfContact": [state.history.read(name, current, state.read_lag)]})
        body = await request.json()
        if "skillId" not in body:
            return JSONResponse({"error": "skillId is required"}, status_code=400)
        state.history.before_write(name, current)
        current.update(body)
        state.history.wrote(name, current)
        state.writes_applied += 1
        return JSONResponse({"pointsOfContact": [current]})

    async def active(request: Request) -> Response:
        if (fault := await fault_gate(state, request)) is not None:
            return fault
        if not authorized(state, request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        wanted = request.query_params.get("mediaTypeId")
        contacts = [c for c in state.active if wanted is None or str(c["mediaTypeId"]) == wanted]
        return JSONResponse({"activeContacts": contacts}) if contacts else Response(status_code=204)

    async def faults(request: Request) -> Response:
        return await control(state, request)

    return Starlette(routes=[
        Route("/auth/token", token, methods=["POST"]),
        Route("/points-of-contact/{poc_id}", poc, methods=["GET", "PUT"]),
        Route("/contacts/active", active, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["POST"]),
    ])
