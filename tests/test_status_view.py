"""The published view and what the API makes of it: a summary and every trunk's state, the trunks that are
not UP in full, filters, and an event stream that sends only the trunks that changed."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from trunkguard.api.app import create_api
from trunkguard.api.view import PROBLEM_TRUNKS, changed_trunks, status_json
from trunkguard.app import Service
from trunkguard.asgi import serving
from trunkguard.config import parse_config
from trunkguard.core.machine import LeaseChanged, ProbeDone

N = 120


def _config(db: Path) -> str:
    primary = ", ".join(f'{{name: p{i}, uri: "sip:127.0.0.1:5070"}}' for i in range(N))
    secondary = ", ".join(f'{{name: s{i}, uri: "sip:127.0.0.1:5072"}}' for i in range(N))
    return f"""carriers:
  primary: {{trunk_group_id: tg-a, trunks: [{primary}]}}
  secondary: {{trunk_group_id: tg-b, trunks: [{secondary}]}}
platform: {{kind: emulator, base_url: "http://127.0.0.1:1", rule_id: r, client_id_env: X, client_secret_env: Y}}
storage: {{url: "sqlite:///{db}"}}
api: {{listen: "127.0.0.1:1", token_env: T}}
"""


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    svc = Service.build(parse_config(_config(tmp_path / "tg.db")), {"X": "x", "Y": "y", "T": "t"})
    rt = svc.runtime
    rt.feed(LeaseChanged(True, None, "test"))
    for t in rt.rules.trunks:  # everyone answers once ...
        rt.feed(ProbeDone(t.name, 1, True, 200, "answered 200", 1.5))
    for seq in range(2, 30):  # ... then p7 stops answering (more than down_after x confirm_burst)
        rt.feed(ProbeDone("p7", seq, False, None, "no answer"))
    yield svc
    svc.reader.close()
    svc.store.close()


async def _get(svc: Service, path: str) -> httpx.Response:
    api = create_api(svc.runtime, svc.reader, svc.tokens)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://tg") as client:
        return await client.get(path)


async def test_without_filters_every_trunk_has_its_state_and_only_problems_come_in_full(service: Service) -> None:
    data = (await _get(service, "/api/v1/status")).json()
    primary = data["carriers"]["primary"]
    assert primary["trunks_total"] == N and primary["usable"] == N - 1 and primary["states"] == {"up": N - 1,
                                                                                                 "down": 1}
    full = [t for t in primary["trunks"] if "samples" in t]
    assert [t["name"] for t in full] == ["p7"] and full[0]["state"] == "down" and full[0]["recent_failures"]
    assert {"name": "p0", "state": "up"} in primary["trunks"] and len(primary["trunks"]) == N
    assert data["routing_read"] is True and data["headline"]["calls"].startswith("Calls go to the primary carrier")


async def test_filters_narrow_the_document(service: Service) -> None:
    one = (await _get(service, "/api/v1/status?trunk=p3")).json()
    assert list(one["carriers"]) == ["primary"]
    [t] = one["carriers"]["primary"]["trunks"]
    assert t["name"] == "p3" and t["samples"][0]["rtt_ms"] == 1.5  # in full, with its RTT history
    problems = (await _get(service, "/api/v1/status?problems=1")).json()
    assert [t["name"] for c in problems["carriers"].values() for t in c["trunks"]] == ["p7"]
    secondary = (await _get(service, "/api/v1/status?carrier=secondary&samples=2")).json()
    assert list(secondary["carriers"]) == ["secondary"]
    assert len(secondary["carriers"]["secondary"]["trunks"]) == N
    assert all("samples" in t for t in secondary["carriers"]["secondary"]["trunks"])
    for bad, why in (("carrier=tertiary", "carrier must be one of"), ("trunk=nope", "not a configured trunk"),
                     ("samples=61", "samples must be"), ("problems=yes", "problems must be 0 or 1"),
                     ("colour=red", "unknown query parameter")):
        answer = await _get(service, f"/api/v1/status?{bad}")
        assert answer.status_code == 400 and why in answer.json()["error"], bad


def test_the_problems_shown_in_full_are_bounded_per_carrier(service: Service) -> None:
    rt = service.runtime
    for i in range(PROBLEM_TRUNKS + 10):
        for seq in range(2, 30):
            rt.feed(ProbeDone(f"s{i}", seq, False, None, "no answer"))
    secondary = status_json(rt.status())["carriers"]["secondary"]
    assert sum("samples" in t for t in secondary["trunks"]) == PROBLEM_TRUNKS
    assert secondary["states"]["down"] == PROBLEM_TRUNKS + 10  # the counts say how many there are


def test_only_the_trunks_that_changed_are_sent_again(service: Service) -> None:
    rt = service.runtime
    before = rt.status()
    assert len(changed_trunks(None, before)) == 2 * N  # the first message: every trunk
    rt.feed(ProbeDone("s5", 2, False, None, "no answer"))  # s5 turns SUSPECT
    after = rt.status()
    assert [t["name"] for t in changed_trunks(before, after)] == ["s5"]
    assert changed_trunks(after, rt.status()) == []


async def test_the_event_stream_sends_a_summary_then_every_trunk_then_changes(service: Service) -> None:
    stop = asyncio.Event()
    api = create_api(service.runtime, service.reader, service.tokens, stopping=stop)
    events: list[tuple[str, dict[str, object]]] = []
    port = free_port(socket.SOCK_STREAM)

    async def listen() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client, \
                client.stream("GET", "/api/v1/events") as response:
            kind = ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind in ("status", "trunks"):
                    events.append((kind, json.loads(line[5:])))
                if sum(k == "trunks" for k, _ in events) >= 2:
                    return

    async with serving(api, "127.0.0.1", port):
        task = asyncio.create_task(listen())
        end = time.monotonic() + 10
        while not any(k == "trunks" for k, _ in events) and time.monotonic() < end:
            await asyncio.sleep(0.05)
        service.runtime.feed(ProbeDone("s9", 2, False, None, "no answer"))
        await asyncio.wait_for(task, 10)
        stop.set()
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["status", "trunks"] and "trunks" not in events[0][1]["carriers"]["primary"]  # type: ignore[index]
    first, later = [d for k, d in events if k == "trunks"][:2]
    assert first["full"] is True and len(first["trunks"]) == 2 * N  # type: ignore[arg-type]
    assert later["full"] is False and [t["name"] for t in later["trunks"]] == ["s9"]  # type: ignore[union-attr]
