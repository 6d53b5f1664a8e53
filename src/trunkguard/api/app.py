"""The daemon's REST API, served on `api.listen` (loopback by default).

- `GET  /api/v1/status`   the pair state, trunks with RTT history, queued activation, approval.
- `GET  /api/v1/history`  decisions with their sentences and evidence, newest last (`?limit=`).
- `GET  /api/v1/intents`  swaps with their outcome.
- `POST /api/v1/actions`  `{"kind": failover|failback|pause|resume|cancel, "reason": ..., "who": ...}`.
- `GET  /leader`          200 on the replica holding the lease, 503 elsewhere.
Writes need `Authorization: Bearer <token>`, the token being the value of the environment
variable `api.token_env` names.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkguard.core.failover import OperatorAction
from trunkguard.engine.daemon import Engine
from trunkguard.store import StoreError

ACTIONS = ("failover", "failback", "pause", "resume", "cancel")


def create_api(engine: Engine, token: str | None) -> Starlette:
    def allowed(request: Request) -> bool:
        if token is None:
            return True
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), token.encode())

    async def status(_: Request) -> Response:
        return JSONResponse(engine.status())

    async def history(request: Request) -> Response:
        limit = _int(request.query_params.get("limit"), 50)
        try:
            rows = await asyncio.to_thread(engine.store.history, limit)
        except StoreError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse({"decisions": rows})

    async def intents(_: Request) -> Response:
        try:
            rows = await asyncio.to_thread(engine.store.intents)
            actions = await asyncio.to_thread(engine.store.actions)
        except StoreError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse({"intents": [r.as_dict() for r in rows], "operator_actions": actions})

    async def act(request: Request) -> Response:
        if not allowed(request):
            return JSONResponse({"error": "a valid API token is required (Authorization: Bearer ...)"},
                                status_code=401)
        try:
            body: Any = await request.json()
            kind, reason = body["kind"], str(body.get("reason", "")).strip()
            who = str(body.get("who") or "api").strip()[:200]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'send JSON: {"kind": ..., "reason": ..., "who": ...}'}, status_code=400)
        if kind not in ACTIONS:
            return JSONResponse({"error": f"kind must be one of {', '.join(ACTIONS)}"}, status_code=400)
        if not reason:
            return JSONResponse({"error": "a reason is required: it goes into the audit trail"}, status_code=400)
        if not engine.leader:
            return JSONResponse({"error": "this replica does not hold the lease"}, status_code=503)
        sentences = await engine.submit(OperatorAction(kind, who, reason[:1000], engine.clock()))
        refused = any(" refused" in s for s in sentences[:1])
        return JSONResponse({"sentences": sentences, "status": engine.status()}, status_code=409 if refused else 200)

    async def leader(_: Request) -> Response:
        return JSONResponse({"leader": engine.leader, "term": engine.term}, status_code=200 if engine.leader else 503)

    return Starlette(routes=[
        Route("/api/v1/status", status),
        Route("/api/v1/history", history),
        Route("/api/v1/intents", intents),
        Route("/api/v1/actions", act, methods=["POST"]),
        Route("/leader", leader),
    ])


def _int(text: str | None, default: int) -> int:
    try:
        return max(1, min(10_000, int(text))) if text else default
    except ValueError:
        return default
