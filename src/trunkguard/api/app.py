"""The daemon's REST API, served on `api.listen` (loopback by default).

- `GET  /api/v1/status`   the pair state, each carrier's counts, every trunk's state (in full, with RTT
  history, the ones not UP), queued activation, approval; `?carrier=&trunk=&samples=&problems=1` (api/view.py).
  `groups` lists every routing group at a glance (name, chain, active, state, since, in_flight,
  paused_by, routing_read, last_sentence, swaps, its own headline); a config without `groups:` has one,
  `default`. The top-level pair fields are the first group's; `?group=NAME` makes them that group's and
  narrows `carriers` to its chain.
- `GET  /api/v1/history`  decisions with their sentences and evidence, a page at a time, oldest first in
  the page: `?since=` (ISO 8601, or a duration back from now), `?page=` (1, the default: the newest),
  `?limit=` (the page size, 50), `?group=` (one routing group's only); the body says `page`, `pages`,
  `total` and links `next` (older) and `previous` (newer), which keep `since` and `group`.
- `GET  /api/v1/intents`  swaps with their outcome, and the people's actions; `?group=` one group's only.
- `POST /api/v1/actions`  `{"kind": failover|failback|pause|resume|cancel|ack, "reason": ..., "who": ...,
  "group": ...}`; `maintenance` also takes `"trunk"` and `"for_s"` (seconds, default 3600),
  `maintenance_end` a `"trunk"`; `failover` and `failback` a `"to"`. `group` is the routing group acted
  on: the only one by default, required when there are several; `to` must be in that group's chain and
  `trunk` one of its carriers' trunks (a 400 otherwise, naming what it may be).
- `GET  /api/v1/checks`   the latest DID sweep, certificate and parity results.
- `GET  /api/v1/events`   server-sent events (the dashboard): the summary and the trunks that changed, on
  change; history on a decision; a tick every second.
- `GET  /leader`          200 on the replica holding the lease, 503 elsewhere.
- `GET  /healthz`         200 while the daemon's loop answers (liveness; no token: it says nothing secret).
- `GET  /metrics`         Prometheus metrics (api/metrics.py), through prometheus_client's app (api/scrape.py).
(`api.metrics_listen` serves /metrics, /healthz and /leader alone in plain HTTP: api/scrape.py.)
- `GET  /api/v1/openapi.json` the OpenAPI document of the above (api/schema.py).
- `GET  /`                the dashboard: one static page fed by /api/v1/events.
Every answer is described in the document by a pydantic model (api/models.py), each error by `ErrorBody`
(`{"error", "detail"}`); moments are ISO 8601 in UTC, as the CLI prints them.
Actions need `Authorization: Bearer <token>` with the operator token (`api.token_env`): none or a wrong
one is a 401, a token that may only read a 403; reads need the read or the operator token when
`api.read_token_env` is set (api/auth.py). Bodies over
`api.max_body` are refused (413), and a body that is not an action is a 400 naming why.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import resources
from typing import Any

from pydantic import ValidationError
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from trunkguard.api.auth import ApiTokens
from trunkguard.api.limits import BodyLimit
from trunkguard.api.metrics import Metrics
from trunkguard.api.schema import ACTIONS, LIMIT_MAX, PAGE_MAX, ActionRequest, openapi
from trunkguard.api.scrape import METRICS_PARAMS, MetricsEndpoint, healthz_endpoint, leader_endpoint, passed
from trunkguard.api.view import (
    StatusQuery,
    changed_trunks,
    find_group,
    group_names,
    history_json,
    status_json,
    summary_json,
)
from trunkguard.core.failover import OperatorAction
from trunkguard.moments import iso_times, parse_since
from trunkguard.readiness import CHECKS
from trunkguard.runtime.loop import Runtime
from trunkguard.runtime.status import StatusView
from trunkguard.runtime.storelink import StoreLink
from trunkguard.store import Store, StoreError

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_JSON_DEPTH = 32


def create_api(runtime: Runtime, reader: StoreLink[Store], tokens: ApiTokens | Callable[[], ApiTokens], *,
               max_body: int = 65_536, stopping: asyncio.Event | None = None,
               metrics: Metrics | None = None) -> Starlette:
    """`runtime` gives the published status and takes actions; `reader` runs the read-only queries;
    `tokens`, or what it returns at each request (the daemon's, replaced by a config reload), says who
    may read and act; `stopping`, once set, ends the event streams (a page must not keep hearing from a
    stopping daemon); `metrics`: the ones `api.metrics_listen` serves too (one set of counters), else
    made here."""
    stopping = stopping or asyncio.Event()
    store = reader.store
    current: Callable[[], ApiTokens] = tokens if callable(tokens) else lambda: tokens

    def readable(endpoint: Endpoint, name: str = "", params: frozenset[str] = frozenset()) -> Endpoint:
        async def guarded(request: Request) -> Response:
            if not current().can_read(request, name):
                return problem(401, "a read token is required (Authorization: Bearer ...)",
                               headers={"WWW-Authenticate": "Bearer"})
            unknown = sorted(set(request.query_params) - params)
            if unknown:
                return problem(400, f"unknown query parameter {unknown[0]!r}")
            return await endpoint(request)
        return guarded

    async def status(request: Request) -> Response:
        view = runtime.status()
        query = StatusQuery.parse(request.query_params, view)
        if isinstance(query, str):
            return problem(400, query)
        return respond(status_json(view, query))

    def group_param(request: Request) -> str | Response | None:
        """`?group=`: a routing group of this deployment, None when not given, or the 400 naming them."""
        name = request.query_params.get("group")
        if name is None:
            return None
        found = find_group(runtime.status(), name)
        return problem(400, found) if isinstance(found, str) else found.name

    async def history(request: Request) -> Response:
        page = _history_query(request.query_params, time.time())
        if isinstance(page, str):
            return problem(400, page)
        group = group_param(request)
        if isinstance(group, Response):
            return group
        limit, number, since = page
        try:
            rows, total = await reader.call(store.history_page, limit, number or 1, since, group=group)
        except StoreError as exc:
            return problem(503, str(exc))
        return respond(history_json(rows, total, limit=limit, page=number, since=since, group=group))

    async def intents(request: Request) -> Response:
        group = group_param(request)
        if isinstance(group, Response):
            return group
        try:
            rows = await reader.call(store.intents, group=group)
            actions = await reader.call(store.actions, group=group)
        except StoreError as exc:
            return problem(503, str(exc))
        return respond({"intents": [r.as_dict() for r in rows], "operator_actions": actions})

    async def act(request: Request) -> Response:
        tokens = current()
        actor = tokens.actor(request)
        if actor is None and tokens.only_reads(request):
            return problem(403, "this token may only read")
        if actor is None:
            return problem(401, "a valid API token is required (Authorization: Bearer ...)",
                           headers={"WWW-Authenticate": "Bearer"})
        body = await _action(request)
        if isinstance(body, Response):
            return body
        until, trunk = None, None
        view = runtime.status()
        group = find_group(view, body.group)
        if isinstance(group, str):
            return problem(400, group)
        several = len(group_names(view)) > 1
        whose = f"group {group.name}'s" if several else "the"
        if body.to is not None and body.to not in group.chain:
            return problem(400, f"to must be one of {whose} chain's carriers ({', '.join(group.chain)}), "
                                f"not {body.to!r}")
        if body.kind in ("maintenance", "maintenance_end"):
            trunk = body.trunk
            if trunk is None or trunk not in view.index:
                return problem(400, f"trunk must be one of the configured trunks, not {body.trunk!r}")
            if view.trunks[view.index[trunk]].carrier not in group.chain:
                return problem(400, f"trunk must be one of group {group.name}'s carriers' trunks "
                                    f"({', '.join(group.chain)}), not {body.trunk!r}")
            if body.kind == "maintenance":
                until = runtime.clock() + (body.for_s or 3600.0)
        if not view.leader:
            return problem(503, "this replica does not hold the lease")
        try:
            who = actor or body.who or "api"  # a named token's name is who acted, whatever the body says
            sentences = await runtime.submit(OperatorAction(body.kind, who, body.reason, runtime.clock(), trunk, until,
                                                            tuple(dict.fromkeys(body.skip_gates)), body.to,
                                                            group=group.name))
        except TimeoutError:
            return problem(503, "the daemon did not take the action within 30 s; check "
                           "`trunkguard history` before trying again")
        refused = any(" refused" in s for s in sentences[:1])
        # the answer's status: the group acted on, with only the trunks that are not UP
        answer = StatusQuery(problems=True, group=group.name if several else None)
        return respond({"sentences": sentences, "status": status_json(runtime.status(), answer)},
                       status_code=409 if refused else 200)

    async def checks(_: Request) -> Response:
        try:
            latest = await reader.call(store.latest_checks, "secondary")
        except StoreError as exc:
            return problem(503, str(exc))
        return respond({name: None if name not in latest else
                        {k: latest[name][k] for k in ("ok", "at", "summary", "term")} for name in CHECKS})

    prometheus = MetricsEndpoint((metrics or Metrics(runtime)).registry,
                                 guard=readable(passed, "metrics", params=METRICS_PARAMS))

    page = resources.files("trunkguard.api").joinpath("static/index.html").read_text()

    async def dashboard(_: Request) -> Response:
        return HTMLResponse(page, headers={"Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                                                                      "style-src 'unsafe-inline'"})

    leader = leader_endpoint(runtime)

    async def events(request: Request) -> Response:
        """The dashboard's feed (server-sent events): `status` (the summary, no trunks) at once and again
        as soon as anything a person reads changes (at most every 0.3 s); `trunks` with every trunk at
        first, then only the trunks that changed (a healthy one as name and state, one not UP in full);
        `history` (the newest decisions, without their evidence) whenever a decision is recorded; `tick`
        every second, so a page that hears nothing for a few seconds knows its view is stale."""
        async def stream() -> AsyncIterator[dict[str, str]]:
            seen: tuple[Any, ...] | None = None
            last: StatusView | None = None
            decisions, sent_at, ticked = -1, 0.0, 0.0
            while not stopping.is_set():
                status = runtime.status()
                now = time.monotonic()
                key = _view_key(status)
                if key != seen and now - sent_at >= 0.3:
                    seen, sent_at, ticked = key, now, now
                    yield {"event": "status", "data": json.dumps(iso_times(summary_json(status), floor=0))}
                    changed = changed_trunks(last, status)
                    if changed:
                        trunks = {"full": last is None, "trunks": changed}
                        yield {"event": "trunks", "data": json.dumps(iso_times(trunks, floor=0))}
                    last = status
                if status.facts.decisions != decisions:
                    decisions = status.facts.decisions
                    try:
                        rows = await reader.call(store.history, 30)
                    except StoreError as exc:
                        rows = [{"at": time.time(), "kind": "error", "sentence": f"history unavailable: {exc}"}]
                    yield {"event": "history", "data": json.dumps(iso_times(
                        [{k: r.get(k) for k in ("at", "kind", "sentence")} for r in rows], floor=0))}
                if now - ticked >= 1.0:
                    ticked = now
                    yield {"event": "tick", "data": json.dumps(iso_times({"at": time.time()}))}
                await asyncio.sleep(0.1)
        return EventSourceResponse(stream(), ping=15, send_timeout=10)

    healthz = healthz_endpoint(runtime)

    async def schema(_: Request) -> Response:
        tokens, view = current(), runtime.status()
        return JSONResponse(openapi(reads_need_token=tokens.reader is not None, open_endpoints=tokens.open_endpoints,
                                    carriers=tuple(view.groups), groups=tuple(group_names(view))))

    return Starlette(routes=[
        Route("/api/v1/status", readable(status, params=frozenset({"carrier", "trunk", "samples", "problems",
                                                                   "group"}))),
        Route("/api/v1/history", readable(history, params=frozenset({"limit", "since", "page", "group"}))),
        Route("/api/v1/intents", readable(intents, params=frozenset({"group"}))),
        Route("/api/v1/actions", act, methods=["POST"]),
        Route("/api/v1/checks", readable(checks)),
        Route("/api/v1/events", readable(events)),
        Route("/api/v1/openapi.json", schema),
        Route("/leader", readable(leader, "leader")),
        Route("/healthz", healthz),
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/", dashboard),
    ], middleware=[Middleware(BodyLimit, max_body=max_body)],
        exception_handlers={404: _not_found, 405: _not_found})


async def _action(request: Request) -> ActionRequest | Response:
    """The body as an action, or the 4xx answer saying why it is not one (never a 500)."""
    if request.headers.get("content-type", "application/json").split(";")[0].strip() != "application/json":
        return problem(415, "send application/json")
    raw = await request.body()
    try:
        data = json.loads(raw)
    except RecursionError:
        return problem(400, "the JSON is nested too deeply")
    except ValueError as exc:  # not JSON, or not UTF-8
        return problem(400, f"the body is not JSON: {exc}")
    if _depth(data) > MAX_JSON_DEPTH:
        return problem(400, f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(data, dict):
        return problem(400, 'send a JSON object: {"kind": ..., "reason": ..., "who": ...}')
    if not str(data.get("reason") or "").strip():
        return problem(400, "a reason is required: it goes into the audit trail")
    try:
        return ActionRequest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        return problem(400, f"not an action: {problems} (kinds: {', '.join(ACTIONS)})")


def _view_key(status: StatusView) -> tuple[Any, ...]:
    """What a person reads on the page: when it changes, the page hears of it at once. (The trunks are
    compared by their carriers' counts here; which trunks changed is worked out when sending.)"""
    return (status.pair, status.carriers, status.leader, status.store_ok, status.last_sentence, status.calls,
            status.readiness, status.facts.decisions, status.facts.roll.leader, status.routing_read,
            tuple((g.pair, g.routing_read, g.last_sentence) for g in status.routing_groups))


def respond(data: Any, *, status_code: int = 200) -> JSONResponse:
    """A 2xx (or a 409's) JSON answer: every moment in it as ISO 8601 in UTC (trunkguard/moments.py), as
    the CLI prints them; the document describes each as a date-time (api/models.py)."""
    return JSONResponse(iso_times(data, floor=0), status_code=status_code)


def problem(status: int, error: str, detail: object = None, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """Every 4xx and 5xx of the API has one shape: `{"error": what went wrong, "detail": more, or null}`."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


async def _not_found(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 404)
    what = "no such endpoint" if status == 404 else f"{request.method} is not allowed here"
    return problem(status, what, request.url.path)


def _depth(data: object) -> int:
    """How deeply a parsed JSON value nests (iteratively: no recursion for a hostile body)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def _history_query(params: Mapping[str, str], now: float) -> tuple[int, int | None, float | None] | str:
    """`?limit=&page=&since=` as (page size, page or None for the last one, since or None), or the
    reason one of them is wrong, naming it (for a 400)."""
    limit = _limit(params.get("limit"))
    if limit is None:
        return f"limit must be a whole number from 1 to {LIMIT_MAX}, not {params.get('limit')!r}"
    page: int | None = None
    text = params.get("page")
    if text is not None:
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= PAGE_MAX:
            return f"page must be a whole number from 1 to {PAGE_MAX}, not {text!r}"
        page = int(text)
    since: float | None = None
    if params.get("since") is not None:
        try:
            since = parse_since(params["since"], now)
        except (ValueError, OverflowError) as exc:
            return f"since: {exc}"
    return limit, page, since


def _limit(text: str | None, default: int = 50) -> int | None:
    """`?limit=`: absent is the default; anything but a whole number in range is None (a 400)."""
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= LIMIT_MAX:
        return None
    return int(text)
