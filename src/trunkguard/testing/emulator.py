"""A platform emulator serving the generic contract over HTTP, with fault injection.

For the lab, the demo and the tests. Faults are queued through `POST /_emulator/faults`:
`{"status": 503, "times": 2}`, `{"status": 429, "retry_after": 1}`, `{"latency": 0.5}`,
`{"conflict": true}` (someone else bumps the rule's version first), `{"expire_tokens": true}`,
`{"hold_after_write": 5}` (apply the write, then wait before answering: a crash window), or
`{"random_status": 503, "probability": 0.3, "seed": 1}` for a lasting share of failures, and
`{"read_lag": 2.0}` for lasting eventual consistency: a read shows each object as it was that many
seconds ago (writes are checked against the newest version, as on the real platform). A fault
with `"method": "PUT"` waits for the first request of that method, and one with `"path": "rows"`
for the first request whose path contains that text; `"skip": N` lets N matching requests through
first. A `latency` fault on a PUT delays the write
itself: it lands after the pause whether or not the client is still waiting.
`POST /_emulator/calls` sets the live-call count; `GET /_emulator/state` shows the rules and how
many writes were applied.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import random
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class History:
    """What each object said and since when, so a read can lag behind the writes. An object edited
    in place (by a test, as an administrator would) is noticed, and dated, on its next read."""

    def __init__(self) -> None:
        self._by: dict[str, list[tuple[float, Any]]] = {}

    def _observe(self, name: str, current: Any) -> None:
        entries = self._by.setdefault(name, [])
        if not entries:
            entries.append((float("-inf"), copy.deepcopy(current)))
        elif entries[-1][1] != current:
            entries.append((time.monotonic(), copy.deepcopy(current)))

    def read(self, name: str, current: Any, lag: float) -> Any:
        self._observe(name, current)
        if lag <= 0:
            return current
        cutoff = time.monotonic() - lag
        entries = self._by[name]
        return copy.deepcopy(next((obj for at, obj in reversed(entries) if at <= cutoff), entries[0][1]))

    def before_write(self, name: str, current: Any) -> None:
        self._observe(name, current)

    def wrote(self, name: str, current: Any) -> None:
        self._by.setdefault(name, []).append((time.monotonic(), copy.deepcopy(current)))


@dataclass
class EmulatorState:
    client_id: str = "trunkguard"
    client_secret: str = "lab-secret"  # noqa: S105 - the emulator's own lab credential
    token_ttl: float = 3600.0
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    random_fault: dict[str, Any] | None = None
    rng: random.Random = field(default_factory=random.Random)
    writes_applied: int = 0
    requests: int = 0
    read_lag: float = 0.0
    history: History = field(default_factory=History)
    applied_keys: list[str] = field(default_factory=list)   # the Idempotency-Key of every write applied

    def bump_versions(self) -> None:
        """Someone else edits every object (a `conflict` fault)."""
        for rule in self.rules.values():
            rule["version"] += 1


def default_rule(rule_id: str, trunk_group_id: str) -> dict[str, Any]:
    return {"id": rule_id, "enabled": True, "name": "Inbound_Customer_Failover_Rule",
            "description": "Routes inbound calls to the active carrier's trunk group",
            "condition": {"type": "and", "expressions": [{"key": "system.caller.id", "operation": "exists"}]},
            "action": {"type": "routeToTrunkGroup", "trunkGroupId": trunk_group_id,
                       "queueId": "primary_inbound_queue_id",
                       "fallback": {"type": "routeToQueue", "queueId": "overflow_queue_id"}},
            "priority": 10, "version": 1}


async def fault_gate(state: EmulatorState, request: Request) -> Response | None:
    """Apply the next queued fault that matches this request, or a random one. Shared by both emulators."""
    state.requests += 1
    fault = next((f for f in state.faults if f.get("method", request.method) == request.method
                  and f.get("path", "") in request.url.path), None)
    if fault is not None and int(fault.get("skip", 0)) > 0:
        fault["skip"] = int(fault["skip"]) - 1  # let this many matching requests through first
        fault = None
    if fault is not None and "hold_after_write" in fault:
        return None  # taken by the write itself, after it is applied
    if fault is not None:
        _use(state, fault)
        if fault.get("latency"):
            await request.body()  # the request has fully arrived: it is handled even if the client goes away
            await asyncio.sleep(float(fault["latency"]))
        if fault.get("expire_tokens"):
            state.tokens.clear()
        if fault.get("conflict"):
            state.bump_versions()
        if fault.get("status"):
            headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
            return JSONResponse({"status": int(fault["status"]), "code": "injected", "message": "injected fault"},
                                status_code=int(fault["status"]), headers=headers)
    chance = state.random_fault
    if chance and state.rng.random() < float(chance["probability"]):
        return JSONResponse({"error": "injected random fault"}, status_code=int(chance["random_status"]))
    return None


def authorized(state: EmulatorState, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ")
    return header.startswith("Bearer ") and state.tokens.get(token, 0) > time.monotonic()


async def issue_token(state: EmulatorState, request: Request) -> Response:
    """OAuth 2.0 client credentials, HTTP Basic, as Genesys Cloud's login host and the generic contract."""
    if (fault := await fault_gate(state, request)) is not None:
        return fault
    expected = base64.b64encode(f"{state.client_id}:{state.client_secret}".encode()).decode()
    form = urllib.parse.parse_qs((await request.body()).decode())
    if (request.headers.get("authorization") != f"Basic {expected}"
            or form.get("grant_type") != ["client_credentials"]):
        return JSONResponse({"error": "invalid_client"}, status_code=401)
    value = secrets.token_hex(16)
    state.tokens[value] = time.monotonic() + state.token_ttl
    return JSONResponse({"access_token": value, "token_type": "bearer", "expires_in": state.token_ttl})


async def control(state: EmulatorState, request: Request) -> Response:
    """`/_emulator/faults`: queue a fault, or set a lasting random share of failures."""
    fault = await request.json()
    if "read_lag" in fault:
        state.read_lag = float(fault["read_lag"])
    elif "random_status" in fault:
        state.random_fault = fault
        state.rng.seed(fault.get("seed"))
    else:
        state.faults.append(fault)
    return JSONResponse({"queued": len(state.faults)})


def create_app(state: EmulatorState) -> Starlette:
    async def fault_gate_(request: Request) -> Response | None:
        return await fault_gate(state, request)

    async def token(request: Request) -> Response:
        return await issue_token(state, request)

    async def rule(request: Request) -> Response:
        if (fault := await fault_gate_(request)) is not None:
            return fault
        if not authorized(state, request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        rule_id = request.path_params["rule_id"]
        current = state.rules.get(rule_id)
        if current is None:
            return JSONResponse({"error": f"no rule {rule_id}"}, status_code=404)
        name = f"rule/{rule_id}"
        if request.method == "GET":
            return JSONResponse(state.history.read(name, current, state.read_lag))
        key = request.headers.get("idempotency-key")
        if key and key in state.idempotency:
            return JSONResponse(state.idempotency[key])  # a retry of a write already applied
        try:
            body = await request.json()
            action, version = body["action"], int(body["version"])
            if action.get("type") != "routeToTrunkGroup" or not action.get("trunkGroupId"):
                raise ValueError("action must be routeToTrunkGroup with a trunkGroupId")
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad rule: {exc}"}, status_code=400)
        if version != current["version"]:
            return JSONResponse({"error": f"version {version} is stale; the rule is at {current['version']}"},
                                status_code=409)
        updated = copy.deepcopy(body)
        updated.update({"id": rule_id, "version": current["version"] + 1})
        state.history.before_write(name, current)
        state.rules[rule_id] = updated
        state.history.wrote(name, updated)
        state.writes_applied += 1
        state.applied_keys.append(key or "")
        if key:
            state.idempotency[key] = updated
        hold = next((f for f in state.faults if "hold_after_write" in f), None)
        if hold is not None:
            _use(state, hold)
            await asyncio.sleep(float(hold["hold_after_write"]))
        return JSONResponse(updated)

    async def realtime(request: Request) -> Response:
        if (fault := await fault_gate_(request)) is not None:
            return fault
        if not authorized(state, request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        wanted = request.query_params.get("queueId")
        queues = [{"queueId": q, "activeCalls": n} for q, n in state.calls.items() if wanted in (None, q)]
        return JSONResponse({"queues": queues})

    async def faults(request: Request) -> Response:
        return await control(state, request)

    async def calls(request: Request) -> Response:
        body = await request.json()
        state.calls[str(body["queueId"])] = int(body["activeCalls"])
        return JSONResponse(state.calls)

    async def show(_: Request) -> Response:
        return JSONResponse({"rules": state.rules, "writes_applied": state.writes_applied,
                             "applied_keys": state.applied_keys, "requests": state.requests})

    return Starlette(routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route("/api/v2/telephony/routes/rules/{rule_id}", rule, methods=["GET", "PUT"]),
        Route("/api/v2/analytics/queues/realtime", realtime, methods=["GET"]),
        Route("/_emulator/faults", faults, methods=["POST"]),
        Route("/_emulator/calls", calls, methods=["POST"]),
        Route("/_emulator/state", show, methods=["GET"]),
    ])


def _use(state: EmulatorState, fault: dict[str, Any]) -> None:
    fault["times"] = int(fault.get("times", 1)) - 1
    if fault["times"] <= 0:
        state.faults.remove(fault)
