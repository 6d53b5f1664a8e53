"""What a scraper or a load balancer asks: `/metrics`, `/healthz`, `/leader`, and the plain-HTTP app
that serves only those three on `api.metrics_listen`.

`/metrics` is prometheus_client's own ASGI app (`make_asgi_app`): the text format or OpenMetrics as
the scraper's `Accept` asks, gzip when its `Accept-Encoding` allows, `?name[]=` to pick families.
The library encodes and gzips in one synchronous call: at 1,000 trunks per carrier (26,000 samples)
that held the event loop, and with it every probe's timing, for 292 ms (measured here). So the
library's app runs in a worker thread, on an event loop of its own, and the daemon's loop only
hands it the request and passes its answer on: its worst lag during the same scrape is 8 ms. The
library gzips at level 9 and takes no level: 63 ms of a 211 ms scrape at 1,000 per carrier. So its
compression is off and the answer is gzipped here, in the same thread, at level 6 (11 ms for the
same 1.9 MB, and 4 % larger). (The collectors read the published status, which is frozen, and
counters that the library locks or that only ever grow.)

The metrics port has no token and no TLS: it says nothing an operator token guards (no routing
objects, no audit, no actions), and what it says is what every Prometheus target says in clear.
The operator API stays behind TLS off loopback (config: ApiConfig).
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import make_asgi_app
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from trunkguard.api.metrics import Metrics
from trunkguard.runtime.loop import Runtime

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Guard = Callable[[Request], Awaitable[Response]]
PASSED = Response(status_code=204)  # what a guard's endpoint answers when the request may go on
GZIP_LEVEL = 6  # the library's 9 costs 5 times the CPU for 4 % less
METRICS_PARAMS = frozenset({"name[]"})  # the library's filter: ?name[]=trunkguard_leader


async def passed(_: Request) -> Response:
    """The endpoint a guard (api/app.py `readable`) wraps: reaching it means the request may go on."""
    return PASSED


class MetricsEndpoint:
    """`/metrics` as an ASGI app: the guard's refusal (a missing token, an unknown parameter) as it
    answers it, else the library's exposition, encoded off the event loop."""

    def __init__(self, registry: Collector, guard: Guard | None = None) -> None:
        self.app = make_asgi_app(registry, disable_compression=True)  # gzipped at level 6 below
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.guard is not None:
            answer = await self.guard(Request(scope, receive))
            if answer is not PASSED:
                await answer(scope, receive, send)
                return
        request = await receive()
        answered: list[Message] = []

        async def replay() -> Message:
            return request

        async def keep(message: Message) -> None:
            answered.append(message)

        zipped = any(name == b"accept-encoding" and b"gzip" in value for name, value in scope.get("headers", ()))
        await asyncio.to_thread(self._answer, scope, replay, keep, answered, zipped)
        for message in answered:
            await send(message)

    def _answer(self, scope: Scope, receive: Receive, send: Send, answered: list[Message], zipped: bool) -> None:
        """In the worker thread: the library's answer, gzipped at level 6 when the scraper accepts it."""
        asyncio.run(self.app(scope, receive, send))
        if not zipped or len(answered) != 2 or answered[0].get("status") != 200:
            return
        start, body = answered
        data = gzip.compress(bytes(body.get("body", b"")), compresslevel=GZIP_LEVEL)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        answered[:] = [{**start, "headers": [*headers, (b"content-encoding", b"gzip"),
                                             (b"content-length", str(len(data)).encode())]},
                       {**body, "body": data}]


def healthz_endpoint(runtime: Runtime) -> Callable[[Request], Awaitable[Response]]:
    async def healthz(_: Request) -> Response:
        """Alive: this answer comes from the loop that runs the machine, so a hung loop never answers.
        Leader or standby, store reachable or not: those are /leader's and the page's business."""
        status = runtime.status()
        return JSONResponse({"ok": True, "leader": status.leader, "store_ok": status.store_ok})
    return healthz


def leader_endpoint(runtime: Runtime) -> Callable[[Request], Awaitable[Response]]:
    async def leader(_: Request) -> Response:
        """200 on the replica holding the lease, 503 elsewhere (a load balancer's health check)."""
        status = runtime.status()
        return JSONResponse({"leader": status.leader, "term": status.facts.term},
                            status_code=200 if status.leader else 503)
    return leader


def create_metrics_app(runtime: Runtime, metrics: Metrics) -> Starlette:
    """The app of `api.metrics_listen`: `/metrics`, `/healthz` and `/leader`, no token; anything else
    is a 404 (405 for another method) in the API's error shape, `{"error", "detail"}`."""
    return Starlette(routes=[
        Route("/metrics", MetricsEndpoint(metrics.registry), methods=["GET"]),
        Route("/healthz", healthz_endpoint(runtime)),
        Route("/leader", leader_endpoint(runtime)),
    ], exception_handlers={404: _refused, 405: _refused})


async def _refused(request: Request, exc: Exception) -> Response:
    """The API's answer to a path or method it does not serve (api/app.py `_not_found`), here for the
    paths the metrics port leaves to the API."""
    status = getattr(exc, "status_code", 404)
    what = ("no such endpoint on the metrics port (it serves /metrics, /healthz and /leader; the API is on "
            "api.listen)") if status == 404 else f"{request.method} is not allowed here"
    return JSONResponse({"error": what, "detail": request.url.path}, status_code=status)
