"""The REST API's published contract against the running daemon (issue 26, item 6): every operation of
/api/v1/openapi.json has a unique operationId and a 200 with a schema generated from the pydantic
models; every route the app serves is in the document; every 4xx and 5xx body is `ErrorBody`; real
answers (a forced swap, people's actions, paged history, each error) validate against the document,
moments in them as ISO 8601. And the history's `since` and `page`, on SQLite and on PostgreSQL,
through the API and through `trunkguard history` (the daemon's API, then the store alone)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import schemathesis
from starlette.applications import Starlette
from typer.testing import CliRunner

from tests.conftest import eventually
from tests.test_api_hardening import READ, TOKEN, _api, daemon
from trunkguard.api.models import ErrorBody
from trunkguard.cli import app as cli
from trunkguard.core.failover import PairSnapshot
from trunkguard.lab.lab import free_tcp_port
from trunkguard.moments import iso
from trunkguard.store import Store

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _moments(data: Any, key: str = "") -> list[str]:
    """Every value under a moment's key (`at`, `since`, `*_at`, `until`) in a JSON answer."""
    if isinstance(data, dict):
        return [m for k, v in data.items() for m in _moments(v, k)]
    if isinstance(data, list):
        return [m for v in data for m in _moments(v, key)]
    if (key in ("at", "since", "until") or key.endswith("_at")) and data is not None:
        return [data]
    return []


def _check_document(document: dict[str, Any], app: Starlette) -> None:
    operations = [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]
    ids = [op.get("operationId") for _, _, op in operations]
    assert all(isinstance(i, str) and re.fullmatch(r"[a-z]+[A-Za-z]*", i) for i in ids), ids
    assert len(set(ids)) == len(ids), ids
    schemas = document["components"]["schemas"]
    served = {(route.path, method.lower()) for route in app.routes  # type: ignore[attr-defined]
              for method in (route.methods or ()) if method != "HEAD"}  # type: ignore[attr-defined]
    assert {(path, method) for path, method, _ in operations} == served
    for path, method, op in operations:
        [(media, content)] = op["responses"]["200"]["content"].items()
        schema = content["schema"]
        assert schema, (path, method)
        if media == "application/json":  # a model from api/models.py, with its fields
            model = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            assert model["properties"] and model["required"], (path, model)
        for code, answer in op["responses"].items():
            if code.startswith(("4", "5")) and code != "409" and (path, code) != ("/leader", "503"):
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(schemas["ErrorBody"]["properties"]) == {"error", "detail"}
    assert schemas["Sample"]["properties"]["at"] == {"format": "date-time", "title": "At", "type": "string"}


async def test_every_operation_is_named_and_every_answer_fits_the_published_document(
        tmp_path: Path, apps: list[Starlette]) -> None:
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    async with daemon(tmp_path, _api(port)) as (_, service), httpx.AsyncClient(base_url=base, timeout=30) as client:
        document = (await client.get("/api/v1/openapi.json")).json()
        _check_document(document, apps[0])
        spec = schemathesis.openapi.from_dict(document)
        checked: list[str] = []

        async def answer(method: str, path: str, code: int, *, documented: str = "", **kwargs: Any) -> Any:
            response = await client.request(method, path, **kwargs)
            assert response.status_code == code, (method, path, response.text[:300])
            spec[documented or path.split("?")[0]][method].validate_response(response)  # raises on a mismatch
            checked.append(f"{method} {path} {code}")
            body = response.json() if response.headers["content-type"].startswith("application/json") else None
            assert all(ISO.fullmatch(m) for m in _moments(body)), _moments(body)
            return body

        failover = {"kind": "failover", "reason": "contract test", "who": "t"}
        done = await answer("POST", "/api/v1/actions", 200, json=failover, headers=AUTH)
        assert done["sentences"] and done["status"]["mode"] == "act"
        await eventually(lambda: service.status().pair.active == "secondary"
                         and service.status().pair.in_flight is None, "the forced swap")
        again = await answer("POST", "/api/v1/actions", 200, json=failover, headers=AUTH)  # (a 409 is this shape too)
        assert "ignored: routing is already on the secondary" in again["sentences"][0]
        await answer("POST", "/api/v1/actions", 200, json={"kind": "pause", "reason": "window", "who": "t"},
                     headers=AUTH)
        await answer("POST", "/api/v1/actions", 200, headers=AUTH, json={
            "kind": "maintenance", "reason": "SBC upgrade", "trunk": "carrier-a-1", "for_s": 600})
        for _ in range(100):  # every trunk probed at least once since the start (each has a sample to show)
            status = await answer("GET", "/api/v1/status?samples=3", 200, headers=AUTH)
            if all(t["samples"] for c in status["carriers"].values() for t in c["trunks"]):
                break
            await asyncio.sleep(0.1)
        assert status["paused"] == {"who": "t", "why": "window"} and status["maintenance"][0]["until"].endswith("Z")
        assert all(t["samples"] for c in status["carriers"].values() for t in c["trunks"])
        for query in ("", "?problems=1", "?trunk=carrier-b-1", "?carrier=secondary"):
            await answer("GET", f"/api/v1/status{query}", 200, headers=AUTH)
        intents = await answer("GET", "/api/v1/intents", 200, headers=AUTH)
        [swap] = intents["intents"]
        assert swap["status"] == "applied" and ISO.fullmatch(swap["finished_at"])
        assert [a["kind"] for a in intents["operator_actions"]] == ["failover", "failover", "pause", "maintenance"]
        history = await answer("GET", "/api/v1/history", 200, headers=AUTH)
        assert history["page"] == history["pages"] and history["next"] is None and history["total"] >= 3
        await answer("GET", "/api/v1/checks", 200, headers=AUTH)
        await answer("GET", "/leader", 200, headers=AUTH)
        await answer("GET", "/healthz", 200)
        await answer("GET", "/metrics", 200, headers=AUTH)
        await answer("GET", "/api/v1/openapi.json", 200)
        await answer("GET", "/", 200)
        # the errors, each an ErrorBody naming what is wrong
        for path, words in (("/api/v1/history?page=0", "page must be a whole number"),
                            ("/api/v1/history?since=yesterday", "since: 'yesterday' is neither an ISO 8601 time"),
                            ("/api/v1/history?limit=x", "limit must be a whole number"),
                            ("/api/v1/status?samples=99", "samples must be"), ("/api/v1/status?colour=red", "colour")):
            error = await answer("GET", path, 400, headers=AUTH)
            assert words in error["error"], error
        assert "read token" in (await answer("GET", "/api/v1/status", 401))["error"]
        await answer("POST", "/api/v1/actions", 403, json=failover, headers={"Authorization": f"Bearer {READ}"})
        await answer("POST", "/api/v1/actions", 401, json=failover)
        await answer("POST", "/api/v1/actions", 415, content=b"kind=pause", headers={**AUTH, "Content-Type":
                                                                                     "text/plain"})
        for method, path, code in (("GET", "/api/v1/nowhere", 404), ("DELETE", "/api/v1/status", 405)):
            response = await client.request(method, path, headers=AUTH)  # no operation to check against: the model
            assert response.status_code == code and ErrorBody.model_validate(response.json()).detail == path
        async with client.stream("GET", "/api/v1/events", headers=AUTH) as events:  # the stream's moments too
            assert events.headers["content-type"].startswith("text/event-stream")
            lines = events.aiter_lines()
            data = await asyncio.wait_for(anext(line async for line in lines if line.startswith("data:")), 10)
            assert ISO.fullmatch(json.loads(data[5:])["published_at"])
    assert len(checked) >= 25


def _seed(url: str, start: float, n: int) -> None:
    """`n` decisions one second apart from `start`, written under a lease then released (the daemon takes it)."""
    store = Store.open(url)
    term = store.acquire_lease("seed/h/1/x", ttl=30)
    assert term is not None
    for i in range(n):
        store.save(term, start + i, PairSnapshot(), kind="cycle", sentence=f"seeded decision {i}")
    store.release_lease("seed/h/1/x", term)
    store.close()


# A day ahead: the seeded decisions are the newest by time whatever the daemon records meanwhile, and
# since=START selects them alone.
START = float(int(time.time()) + 86_400)


def _cli(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["history", "--config", str(config), *args], terminal_width=200,
                                env={"TG_READ": READ})
    return result.exit_code, result.output


def _seeded(page: dict[str, Any]) -> list[int]:
    return [int(d["sentence"].rsplit(" ", 1)[1]) for d in page["decisions"]]


async def test_history_pages_since_a_moment_through_the_api_and_the_cli(tmp_path: Path, store_url: str) -> None:
    _seed(store_url, START, 10)
    port = free_tcp_port()
    async with daemon(tmp_path, _api(port), storage=store_url), \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=30) as client:
        async def page(query: str) -> dict[str, Any]:
            response = await client.get(f"/api/v1/history?{query}")
            assert response.status_code == 200, response.text
            return response.json()  # type: ignore[no-any-return]

        first = await page(f"since={iso(START)}&limit=4")  # page 1: the newest four, oldest first
        assert _seeded(first) == [6, 7, 8, 9] and first["decisions"][0]["at"] == iso(START + 6)
        assert (first["page"], first["pages"], first["total"], first["page_size"]) == (1, 3, 10, 4)
        assert first["since"] == iso(START) and first["previous"] is None
        assert first["next"] == f"/api/v1/history?since={quote(iso(START))}&limit=4&page=2"
        second = (await client.get(first["next"])).json()  # the link, followed as given
        assert _seeded(second) == [2, 3, 4, 5] and second["page"] == 2
        assert (await client.get(second["previous"])).json()["decisions"] == first["decisions"]
        last = (await client.get(second["next"])).json()
        assert _seeded(last) == [0, 1] and last["next"] is None and last["page"] == last["pages"] == 3
        beyond = await page(f"since={iso(START)}&limit=4&page=9")
        assert beyond["decisions"] == [] and beyond["next"] is None and beyond["previous"].endswith("limit=4&page=3")
        assert _seeded(await page(f"since={iso(START + 5)}&limit=3&page=2")) == [5, 6]  # at or after the 6th
        assert _seeded(await page(f"since={quote('2100-01-01T00:00:00+00:00')}")) == []
        everything = await page("since=1h&limit=10000")  # a duration back from now: the daemon's and the seeded
        assert everything["total"] >= 10 and _seeded({"decisions": everything["decisions"][-10:]}) == list(range(10))
        for query, words in (("page=-1", "page must be a whole number from 1"), ("page=1.5", "page must be"),
                             ("since=2023-13-01", "since: '2023-13-01' is neither"),
                             ("since=0001-01-01", "since: '0001-01-01' is outside"), ("limit=0", "limit must be")):
            bad = await client.get(f"/api/v1/history?{query}")
            assert bad.status_code == 400 and words in bad.json()["error"] and "detail" in bad.json(), bad.text
        # the CLI through the daemon's API
        config = tmp_path / "tg.yaml"
        code, out = await asyncio.to_thread(_cli, config, "--since", iso(START), "--page", "2", "-n", "4", "--json")
        shown = json.loads(out)
        assert code == 0 and "source" not in shown and shown["decisions"] == second["decisions"], out
        code, out = await asyncio.to_thread(_cli, config, "--since", iso(START + 2), "--page", "2", "-n", "3")
        assert code == 0 and [line.rsplit(" ", 1)[1] for line in out.splitlines()[:3]] == ["4", "5", "6"], out
        assert f"(page 2 of 3, 3 a page, 8 decisions since {iso(START + 2)}; older: --page 3, newer: --page 1)" \
            in out, out
    # the daemon stopped: the same pages from the store
    code, out = await asyncio.to_thread(_cli, config, "--since", iso(START), "--page", "2", "-n", "4", "--json")
    stored = json.loads(out)
    assert code == 0 and stored["source"] == "store", out
    assert {k: v for k, v in stored.items() if k != "source"} == second
    for args, words in ((("--since", "yesterday"), "--since: 'yesterday' is neither"),
                        (("--page", "0"), "--page"), (("--since", "0001-01-01"), "is outside")):
        code, out = await asyncio.to_thread(_cli, config, *args)
        assert code == 2 and words in out, out


async def test_status_has_the_same_keys_whether_the_daemon_or_the_store_answers(tmp_path: Path) -> None:
    port = free_tcp_port()
    config = tmp_path / "tg.yaml"

    def status() -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(cli, ["status", "--json", "--config", str(config)], env={"TG_READ": READ})
        return result.exit_code, json.loads(result.stdout)

    async with daemon(tmp_path, _api(port)), httpx.AsyncClient(timeout=30) as client:
        pause = {"kind": "pause", "reason": "window", "who": "t"}
        assert (await client.post(f"http://127.0.0.1:{port}/api/v1/actions", json=pause, headers=AUTH)).is_success
        code, live = await asyncio.to_thread(status)
    assert code == 0 and live["source"] == "daemon" and live["reason"] is None and live["stored_at"] is None
    await asyncio.sleep(0.1)
    code, stored = await asyncio.to_thread(status)
    assert code == 3 and stored["source"] == "store" and ISO.fullmatch(stored["stored_at"]), stored
    assert set(stored) == set(live)
    for key in ("lease", "readiness", "headline"):
        assert set(stored[key]) == set(live[key]), key
    assert live["replicas"] and stored["replicas"] == []  # a clean stop forgets its replica row
    assert stored["paused"] == live["paused"] == {"who": "t", "why": "window"}
    assert stored["lease"]["released"] is True and stored["lease"]["holder"] is None
    assert stored["headline"]["calls"].startswith("Calls went to the primary carrier (tg-primary)")
    assert stored["active"] == live["active"] and stored["state"] == live["state"]
    assert all(ISO.fullmatch(m) for m in _moments(live) + _moments(stored)), (_moments(live), _moments(stored))
    assert time.time() - stored["age_s"] > 0
