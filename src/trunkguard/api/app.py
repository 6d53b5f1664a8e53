"""The daemon's REST API, served on `api.listen` (loopback by default).

- `GET  /api/v1/status`   the pair state, trunks with RTT history, queued activation, approval.
- `GET  /api/v1/history`  decisions with their sentences and evidence, newest last (`?limit=`).
- `GET  /api/v1/intents`  swaps with their outcome.
- `POST /api/v1/actions`  `{"kind": failover|failback|pause|resume|cancel|ack, "reason": ..., "who": ...}`.
- `GET  /api/v1/checks`   the latest DID sweep, certificate and parity results.
- `GET  /leader`          200 on the replica holding the lease, 503 elsewhere.
- `GET  /metrics`         Prometheus metrics (api/metrics.py).
- `GET  /`                the dashboard: one static page polling the endpoints above.
Writes need `Authorization: Bearer <token>`, the token being the value of the environment
variable `api.token_env` names.
"""

from __future__ import annotations

import asyncio
import hmac
from importlib import resources
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from trunkguard.api.metrics import Metrics
from trunkguard.core.failover import OperatorAction
from trunkguard.engine.daemon import Engine
from trunkguard.state import CHECKS, load_check
from trunkguard.store import StoreError

ACTIONS = ("failover", "failback", "pause", "resume", "cancel", "ack")


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
        try:
            sentences = await engine.submit(OperatorAction(kind, who, reason[:1000], engine.clock()))
        except TimeoutError:
            return JSONResponse({"error": "the engine did not take the action within 30 s; check "
                                          "`trunkguard history` before trying again"}, status_code=503)
        refused = any(" refused" in s for s in sentences[:1])
        return JSONResponse({"sentences": sentences, "status": engine.status()}, status_code=409 if refused else 200)

    async def checks(_: Request) -> Response:
        found: dict[str, Any] = {}
        for name in CHECKS:
            stored = await asyncio.to_thread(load_check, engine.config, name)
            found[name] = None if stored is None else {"ok": stored["ok"], "at": stored["at"],
                                                        "summary": _summary(name, stored.get("result") or {})}
        return JSONResponse(found)

    metrics = Metrics(engine)

    async def prometheus(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    page = resources.files("trunkguard.api").joinpath("static/index.html").read_text()

    async def dashboard(_: Request) -> Response:
        return HTMLResponse(page, headers={"Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                                                                      "style-src 'unsafe-inline'"})

    async def leader(_: Request) -> Response:
        return JSONResponse({"leader": engine.leader, "term": engine.term}, status_code=200 if engine.leader else 503)

    return Starlette(routes=[
        Route("/api/v1/status", status),
        Route("/api/v1/history", history),
        Route("/api/v1/intents", intents),
        Route("/api/v1/actions", act, methods=["POST"]),
        Route("/api/v1/checks", checks),
        Route("/leader", leader),
        Route("/metrics", prometheus),
        Route("/", dashboard),
    ])


def _summary(name: str, result: dict[str, Any]) -> str:
    if name == "sweep":
        return f"{result.get('ok', '?')}/{result.get('total', '?')} DIDs answered"
    if name == "certs":
        certs = result.get("certs") or []
        return f"{len(certs)} TLS certificates checked" if certs else "no TLS trunks"
    differences = result.get("differences") or []
    return "profiles match" if not differences else f"{len(differences)} differences"


def _int(text: str | None, default: int) -> int:
    try:
        return max(1, min(10_000, int(text))) if text else default
    except ValueError:
        return default
