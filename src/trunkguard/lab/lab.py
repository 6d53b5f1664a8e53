"""The lab: two simulated carriers and the platform emulator on loopback, with a control API.

`Lab.start()` brings up carrier A (primary) and carrier B (secondary), each a SipResponder
answering OPTIONS and INVITE with RTP echo, and one HTTP server holding the platform emulator
(the generic contract, at `/`) and the lab's control endpoints:

- `GET  /_lab/carriers`                 each carrier's URI and current fault
- `POST /_lab/carriers/{name}/fault`    `{"down": true}`, `{"code": 503}`, `{"loss": 0.3}`,
                                        `{"media_down": true}`, `{"reject": ["+1555..."]}`, `{}` heals
`lab_config()` writes the matching trunkguard configuration (fast or guide profile).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from trunkguard.asgi import serving
from trunkguard.lab.responder import Fault, SipResponder
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule

RULE = "rule-inbound-1"
QUEUE = "primary_inbound_queue_id"
CLIENT_ID, CLIENT_SECRET = "trunkguard", "lab-secret"
DIDS = [f"+1555000{n:04d}" for n in range(1, 21)]

PROFILES: dict[str, dict[str, Any]] = {
    # fast: a drill in seconds. guide: the guide's 15 s interval and 3 failures (secondary 2).
    # The secondary is confirmed down one check sooner than the primary, as the guide has it (3 vs 2), so
    # the lab's own config gives no warning at start-up.
    "fast": {"health": "{interval: 1s, timeout: 800ms, confirm_interval: 200ms, down_after: 3, confirm_burst: 3, "
                       "up_after: 2}",
             "secondary_health": "{interval: 1s, timeout: 800ms, confirm_interval: 200ms, down_after: 2, "
                                 "confirm_burst: 3, up_after: 2}",
             "media": "{enabled: true, interval: 5s, duration: 1s, rtp_timeout: 1s, number: '+15550009999'}",
             "cooling": "3s", "poll": "500ms", "target_s": 5.0},
    "guide": {"health": "{interval: 15s, timeout: 2s, down_after: 3, up_after: 2}",
              "secondary_health": "{interval: 15s, timeout: 2s, down_after: 2, up_after: 2}",
              "media": "{enabled: true, interval: 60s, duration: 2s, rtp_timeout: 4s, number: '+15550009999'}",
              "cooling": "10s", "poll": "10s", "target_s": 30.0},
}


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    carriers: dict[str, SipResponder]
    emulator: EmulatorState
    url: str

    @property
    def primary(self) -> SipResponder:
        return self.carriers["carrier-a"]

    @property
    def secondary(self) -> SipResponder:
        return self.carriers["carrier-b"]

    def routed_to(self) -> str:
        return str(self.emulator.rules[RULE]["action"]["trunkGroupId"])

    def config_text(self, profile: str, *, storage: str, api_listen: str) -> str:
        p = PROFILES[profile]
        dids = ", ".join(f'"{d}"' for d in DIDS)
        return f"""# trunkguard lab configuration ({profile} profile), written by the lab
carriers:
  primary:
    trunk_group_id: tg-primary
    health: {p['health']}
    media: {p['media']}
    profile: {{codecs: [PCMU, PCMA], dtmf: rfc2833, ptime: 20}}
    trunks: [{{name: carrier-a-1, uri: "{self.primary.uri}"}}]
  secondary:
    trunk_group_id: tg-secondary
    health: {p['secondary_health']}
    media: {p['media']}
    profile: {{codecs: [PCMU, PCMA], dtmf: rfc2833, ptime: 20}}
    trunks: [{{name: carrier-b-1, uri: "{self.secondary.uri}"}}]
    dids: [{dids}]
    sweep: {{cps: 50, concurrency: 20, timeout: 3s}}
policy:
  cooling_period: {p['cooling']}
  poll_interval: {p['poll']}
  failback: {{mode: approval}}
  breaker: {{max_active_calls: 5, queue_timeout: 1m}}
  readiness: {{trunks: true, sweep: true, certs: true, parity: true}}
platform:
  kind: emulator
  base_url: {self.url}
  rule_id: {RULE}
  queue_id: {QUEUE}
  fallback_queue_id: overflow_queue_id
  client_id_env: TRUNKGUARD_CLIENT_ID
  client_secret_env: TRUNKGUARD_CLIENT_SECRET
  timeout: 3s
storage: {{url: "{storage}"}}
api: {{listen: "{api_listen}", token_env: TRUNKGUARD_API_TOKEN}}
"""


def lab_environment(token: str) -> dict[str, str]:
    return {"TRUNKGUARD_CLIENT_ID": CLIENT_ID, "TRUNKGUARD_CLIENT_SECRET": CLIENT_SECRET,
            "TRUNKGUARD_API_TOKEN": token}


def control_app(lab: Lab) -> Starlette:
    async def carriers(_: Request) -> Response:
        return JSONResponse({name: {"uri": c.uri, "fault": c.fault.describe(), "answered": c.answered,
                                    "rtp_echoed": c.rtp_echoed} for name, c in lab.carriers.items()})

    async def fault(request: Request) -> Response:
        carrier = lab.carriers.get(request.path_params["name"])
        if carrier is None:
            return JSONResponse({"error": f"no carrier {request.path_params['name']}; "
                                          f"one of {', '.join(lab.carriers)}"}, status_code=404)
        try:
            body: Any = await request.json()
            carrier.fault = Fault(down=bool(body.get("down")), code=body.get("code"), loss=float(body.get("loss", 0)),
                                  latency=float(body.get("latency", 0)), media_down=bool(body.get("media_down")),
                                  reject=frozenset(body.get("reject", ())))
        except (ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": f"bad fault: {exc}"}, status_code=400)
        return JSONResponse({"carrier": request.path_params["name"], "fault": carrier.fault.describe()})

    return Starlette(routes=[
        Route("/_lab/carriers", carriers),
        Route("/_lab/carriers/{name}/fault", fault, methods=["POST"]),
        Mount("/", create_app(lab.emulator)),
    ])


@contextlib.asynccontextmanager
async def running_lab(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Lab]:
    a = await SipResponder(host, server_header="lab carrier A").start()
    b = await SipResponder(host, server_header="lab carrier B").start()
    port = port or free_tcp_port(host)
    emulator = EmulatorState(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                             rules={RULE: default_rule(RULE, "tg-primary")}, calls={QUEUE: 0})
    lab = Lab({"carrier-a": a, "carrier-b": b}, emulator, f"http://{host}:{port}")
    try:
        async with serving(control_app(lab), host, port):
            yield lab
    finally:
        await a.stop()
        await b.stop()
