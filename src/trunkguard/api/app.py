"""The daemon's REST API, served on `api.listen` (loopback by default).

- `GET  /api/v1/status`   the pair state, trunks with RTT history, queued activation, approval.
- `GET  /api/v1/history`  decisions with their sentences and evidence, newest last (`?limit=`).
- `GET  /api/v1/intents`  swaps with their outcome.
- `POST /api/v1/actions`  `{"kind": failover|failback|pause|resume|cancel|ack, "reason": ..., "who": ...}`;
  `maintenance` also takes `"trunk"` and `"for_s"` (seconds, default 3600), `maintenance_end` a `"trunk"`.
- `GET  /api/v1/checks`   the latest DID sweep, certificate and parity results.
- `GET  /leader`          200 on the replica holding the lease, 503 elsewhere.
- `GET  /metrics`         Prometheus metrics (api/metrics.py).
- `GET  /`                the dashboard: one static page polling the endpoints above.
Writes need `Authorization: Bearer <token>`, the token being the value of the environment
variable `api.token_env` names.
"""

from __future__ import annotations

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
from trunkguard.readiness import CHECKS
from trunkguard.runtime.loop import Runtime
from trunkguard.runtime.storelink import StoreLink
from trunkguard.store import StoreError

ACTIONS = ("failover", "failback", "pause", "resume", "cancel", "ack", "maintenance", "maintenance_end")


def create_api(runtime: Runtime, reader: StoreLink, token: str | None) -> Starlette:
    """`runtime` gives the published status and takes actions; `reader` runs the read-only queries."""
    store = reader.store

    def allowed(request: Request) -> bool:
        if token is None:
            return True
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), token.encode())

    async def status(_: Request) -> Response:
        return JSONResponse(runtime.status().as_json())

    async def history(request: Request) -> Response:
        limit = _int(request.query_params.get("limit"), 50)
        try:
            rows = await reader.call(store.history, limit)
        except StoreError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse({"decisions": rows})

    async def intents(_: Request) -> Response:
        try:
            rows = await reader.call(store.intents)
            actions = await reader.call(store.actions)
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
        trunk, until = None, None
        if kind in ("maintenance", "maintenance_end"):
            trunk = str(body.get("trunk") or "")
            if trunk not in runtime.status().rules.index:
                return JSONResponse({"error": f"trunk must be one of the configured trunks, not {trunk!r}"},
                                    status_code=400)
            if kind == "maintenance":
                try:
                    seconds = float(body.get("for_s", 3600))
                except (TypeError, ValueError):
                    seconds = -1.0
                if not 0 < seconds <= 30 * 86400:
                    return JSONResponse({"error": "for_s must be seconds, more than 0 and at most 30 days"},
                                        status_code=400)
                until = runtime.clock() + seconds
        if not runtime.status().leader:
            return JSONResponse({"error": "this replica does not hold the lease"}, status_code=503)
        try:
            sentences = await runtime.submit(OperatorAction(kind, who, reason[:1000], runtime.clock(), trunk, until))
        except TimeoutError:
            return JSONResponse({"error": "the daemon did not take the action within 30 s; check "
                                          "`trunkguard history` before trying again"}, status_code=503)
        refused = any(" refused" in s for s in sentences[:1])
        return JSONResponse({"sentences": sentences, "status": runtime.status().as_json()},
                            status_code=409 if refused else 200)

    async def checks(_: Request) -> Response:
        try:
            latest = await reader.call(store.latest_checks, "secondary")
        except StoreError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse({name: None if name not in latest else
                             {k: latest[name][k] for k in ("ok", "at", "summary", "term")} for name in CHECKS})

    metrics = Metrics(runtime)

    async def prometheus(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    page = resources.files("trunkguard.api").joinpath("static/index.html").read_text()

    async def dashboard(_: Request) -> Response:
        return HTMLResponse(page, headers={"Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                                                                      "style-src 'unsafe-inline'"})

    async def leader(_: Request) -> Response:
        status = runtime.status()
        return JSONResponse({"leader": status.leader, "term": status.facts.term},
                            status_code=200 if status.leader else 503)

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


def _int(text: str | None, default: int) -> int:
    try:
        return max(1, min(10_000, int(text))) if text else default
    except ValueError:
        return default
