"""The REST API against hostile input and beyond loopback: the exact Bearer form, a body cap, bad
JSON as a 400 with its reason, read tokens, TLS required off loopback, and a property-based fuzz
(schemathesis, from the daemon's own published OpenAPI document) with no 5xx and no state changed
by a refused call."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import eventually
from trunkguard.app import Service
from trunkguard.config import parse_config
from trunkguard.config_checks import run_readiness
from trunkguard.lab.certs import CertFiles
from trunkguard.lab.lab import Lab, free_tcp_port, lab_environment, running_lab

TOKEN, READ = "operator-token", "read-token"


def _config(lab: Lab, tmp: Path, api: str, storage: str | None = None) -> str:
    text = lab.config_text("fast", storage=storage or f"sqlite:///{tmp}/tg.db", api_listen="127.0.0.1:1")
    return text.replace('api: {listen: "127.0.0.1:1", token_env: TRUNKGUARD_API_TOKEN}', api)


@asynccontextmanager
async def daemon(tmp: Path, api: str, env: dict[str, str] | None = None, *,
                 storage: str | None = None) -> AsyncIterator[tuple[Lab, Service]]:
    async with running_lab() as lab:
        text = _config(lab, tmp, api, storage)
        (tmp / "tg.yaml").write_text(text)
        cfg = parse_config(text, base_dir=tmp)
        await run_readiness(cfg)
        service = Service.build(cfg, {**lab_environment(TOKEN), "TG_READ": READ, **(env or {})})
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            await eventually(lambda: service.status().leader, "the lease")
            yield lab, service
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)


def _api(port: int, extra: str = "") -> str:
    return (f'api: {{listen: "127.0.0.1:{port}", token_env: TRUNKGUARD_API_TOKEN, read_token_env: TG_READ'
            f'{extra}}}')


async def test_the_bearer_form_is_exact_and_a_read_token_cannot_act(tmp_path: Path) -> None:
    port = free_tcp_port()
    async with daemon(tmp_path, _api(port, ", open_endpoints: [metrics]")), httpx.AsyncClient() as client:
        base = f"http://127.0.0.1:{port}"
        pause = {"kind": "pause", "reason": "test", "who": "t"}
        for header in (TOKEN, f"Bearer  {TOKEN}", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"):
            response = await client.post(f"{base}/api/v1/actions", json=pause, headers={"Authorization": header})
            assert response.status_code == 401, header
        read = await client.post(f"{base}/api/v1/actions", json=pause, headers={"Authorization": f"Bearer {READ}"})
        assert read.status_code == 403 and read.json() == {"error": "this token may only read", "detail": None}  # known, not allowed
        assert (await client.get(f"{base}/api/v1/status")).status_code == 401
        for token in (READ, TOKEN):
            got = await client.get(f"{base}/api/v1/status", headers={"Authorization": f"Bearer {token}"})
            assert got.status_code == 200 and got.json()["active"] == "primary"
        assert (await client.get(f"{base}/metrics")).status_code == 200  # open by the setting
        assert (await client.get(f"{base}/leader")).status_code == 401  # not listed: needs a token
        ok = await client.post(f"{base}/api/v1/actions", json=pause, headers={"Authorization": f"bearer {TOKEN}"})
        assert ok.status_code == 200


async def test_bodies_over_the_cap_and_bad_json_are_refused_with_a_reason(tmp_path: Path) -> None:
    port = free_tcp_port()
    async with daemon(tmp_path, _api(port)) as (_, service), httpx.AsyncClient() as client:
        url, auth = f"http://127.0.0.1:{port}/api/v1/actions", {"Authorization": f"Bearer {TOKEN}"}
        big = await client.post(url, content=b"x" * (50 * 1024 * 1024), headers=auth)
        assert big.status_code == 413 and big.json() == {"error": "the request body is over 65536 bytes", "detail": None}

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams in
            for _ in range(100):
                yield b'{"a":' + b" " * 4096

        streamed = await client.post(url, content=chunks(), headers=auth)
        assert streamed.status_code == 413
        cases = {b"[" * 30_000 + b"]" * 30_000: "the JSON is nested",
                 b'{"kind": "pause", "reason": ' + b"[" * 40 + b"]" * 40 + b"}": "nested deeper than 32 levels",
                 b"{not json": "the body is not JSON", b'["pause"]': "send a JSON object",
                 b'{"kind": "pause"}': "a reason is required",
                 b'{"kind": "explode", "reason": "r"}': "not an action: kind: Input should be",
                 b'{"kind": "pause", "reason": "r", "extra": 1}': "not an action: extra: Extra inputs",
                 b'{"kind": "maintenance", "reason": "r", "trunk": "nope"}': "trunk must be one of the configured",
                 b'{"kind": "maintenance", "reason": "r", "trunk": "carrier-a-1", "for_s": -5}': "for_s"}
        before = service.status().pair
        for body, reason in cases.items():
            response = await client.post(url, content=body, headers={**auth, "Content-Type": "application/json"})
            assert response.status_code == 400 and reason in response.json()["error"], (body[:60], response.text)
        assert (await client.post(url, content=b"kind=pause", headers={**auth, "Content-Type": "text/plain"})
                ).status_code == 415
        history = await client.get(f"http://127.0.0.1:{port}/api/v1/history?limit=0", headers=auth)
        assert history.status_code == 400 and "limit must be a whole number" in history.json()["error"]
        assert service.status().pair == before  # nothing refused changed anything


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})}, timeout=60)


def test_listening_beyond_loopback_needs_tls_and_a_read_token(tmp_path: Path) -> None:
    base = (Path(__file__).parent / "configs" / "minimal.yaml").read_text()
    path = tmp_path / "open.yaml"
    path.write_text(base + 'api: {listen: "0.0.0.0:8443", token_env: TG_TOKEN}\n')
    result = _cli("run", "--config", str(path), env={"TG_TOKEN": "t"})
    assert result.returncode == 2
    assert ("api.tls: is required when api.listen (0.0.0.0:8443) is not a loopback address: the tokens would "
            "cross the network in clear") in result.stderr
    path.write_text(base + 'api: {listen: "0.0.0.0:8443", token_env: TG_TOKEN, tls: {cert_file: c.pem, '
                           'key_file: k.pem}}\n')
    result = _cli("config", "check", str(path))
    assert result.returncode == 2 and "api.read_token_env: is required when api.listen" in result.stderr


async def test_over_tls_the_read_token_reads_and_nothing_else_does(tmp_path: Path, lab_ca: CertFiles,
                                                                    lab_leaf: CertFiles) -> None:
    port = free_tcp_port()
    api = (f'api: {{listen: "0.0.0.0:{port}", token_env: TRUNKGUARD_API_TOKEN, read_token_env: TG_READ, '
           f'tls: {{cert_file: "{lab_leaf.cert}", key_file: "{lab_leaf.key}", ca_file: "{lab_ca.cert}"}}}}')
    async with daemon(tmp_path, api):
        url = f"https://127.0.0.1:{port}/api/v1/status"
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(lab_ca.cert))) as client:
            assert (await client.get(url, headers={"Authorization": f"Bearer {READ}"})).status_code == 200
            assert (await client.get(url)).status_code == 401
        with pytest.raises((httpx.RemoteProtocolError, httpx.ConnectError)):  # plain HTTP gets no answer
            async with httpx.AsyncClient() as plain:
                await plain.get(f"http://127.0.0.1:{port}/api/v1/status")
        env = {**os.environ, "TG_READ": READ}
        env.pop("TRUNKGUARD_API_TOKEN", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "trunkguard", "status", "--json", "--config", str(tmp_path / "tg.yaml"), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        assert json.loads(out)["active"] == "primary" and json.loads(out)["source"] == "daemon"


# ---- the fuzz: schemathesis from the document the daemon publishes ---------------------------------------


class _Background:
    """A lab and a daemon on their own event loop in a thread, for schemathesis' blocking client."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_tcp_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(tmp,), daemon=True)

    def __enter__(self) -> _Background:
        self._thread.start()
        if not self._ready.wait(60) or self._error:
            raise RuntimeError(f"the daemon did not start: {self._error}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self, tmp: Path) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            async with daemon(tmp, _api(self.port)):
                self._ready.set()
                await self._stop.wait()
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Background]:
    with _Background(tmp_path_factory.mktemp("fuzz")) as background:
        yield background


AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, ignored_auth]  # every body as the document's models describe it


def _state(base: str) -> tuple[Any, ...]:
    """What only a person's action changes: the audit's actions, and pause. (The pair itself moves on
    by itself: a swap accepted earlier finishes, a maintenance window ends.)"""
    status = httpx.get(f"{base}/api/v1/status", headers=AUTH, timeout=10).json()
    actions = httpx.get(f"{base}/api/v1/intents", headers=AUTH, timeout=10).json()["operator_actions"]
    return status["paused"], len(actions)


def test_the_api_fuzzed_gives_no_server_error_and_a_refused_call_changes_nothing(fuzzed: _Background) -> None:
    """Every operation of the published document, with data that fits its schema and data that does
    not (20 cases each way per operation, bounded in time), sent with the operator token."""
    schema = schemathesis.openapi.from_url(f"{fuzzed.base}/api/v1/openapi.json")
    # the event stream never ends: a fuzzed call would only wait for its timeout (tests/test_dashboard.py reads it)
    operations = [o for o in (result.ok() for result in schema.get_all_operations()) if o.path != "/api/v1/events"]
    assert {f"{o.method.upper()} {o.path}" for o in operations} >= {"GET /api/v1/status", "POST /api/v1/actions",
                                                                     "GET /api/v1/history", "GET /metrics"}
    calls: list[int] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=20, deadline=None, phases=[Phase.explicit, Phase.generate], database=None,
                      suppress_health_check=list(HealthCheck))
            def fuzz(case: Any) -> None:
                before = _state(fuzzed.base)
                response = case.call_and_validate(base_url=fuzzed.base, headers=AUTH, timeout=40, checks=CHECKS)
                calls.append(response.status_code)
                if 400 <= response.status_code < 500 and response.status_code != 409:  # refused by the API: the
                    # action reached nothing (a 409 is the daemon's own refusal, recorded in the audit)
                    assert _state(fuzzed.base) == before, (case.method, case.path, case.body, response.text)

            try:
                fuzz()
            except Unsatisfiable:  # an operation with no parameter, body or token: nothing to make invalid
                assert mode is GenerationMode.NEGATIVE and operation.path in ("/healthz", "/"), operation.path
    assert len(calls) >= 100 and max(calls) < 500


NAMED = {"TG_ALICE": "alice-token", "TG_BOB": "bob-token", "TG_GRAFANA": "grafana-token"}


async def test_a_named_token_is_who_acted_and_a_reader_token_only_reads(tmp_path: Path) -> None:
    import getpass

    from typer.testing import CliRunner

    from trunkguard.cli import app as cli

    port = free_tcp_port()
    tokens = (", tokens: [{name: alice, token_env: TG_ALICE}, {name: bob, token_env: TG_BOB}, "
              "{name: grafana, token_env: TG_GRAFANA, role: reader}]")
    async with daemon(tmp_path, _api(port, tokens), NAMED) as (_, service), httpx.AsyncClient() as client:
        base = f"http://127.0.0.1:{port}"
        pause = {"kind": "pause", "reason": "carrier maintenance", "who": "mallory"}
        done = await client.post(f"{base}/api/v1/actions", json=pause, headers={"Authorization": "Bearer alice-token"})
        assert done.status_code == 200 and "paused by alice (carrier maintenance)" in done.json()["sentences"][0]
        grafana = {"Authorization": "Bearer grafana-token"}
        assert (await client.get(f"{base}/api/v1/status", headers=grafana)).status_code == 200
        refused = await client.post(f"{base}/api/v1/actions", json={**pause, "kind": "resume"}, headers=grafana)
        assert refused.status_code == 403 and refused.json()["error"] == "this token may only read"
        wrong = await client.post(f"{base}/api/v1/actions", json={**pause, "kind": "resume"},
                                  headers={"Authorization": "Bearer grafana-tokenx"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        shared = await client.post(f"{base}/api/v1/actions", json={**pause, "kind": "ack", "who": "carol"},
                                   headers={"Authorization": f"Bearer {TOKEN}"})
        assert "acknowledged by carol" in shared.json()["sentences"][0]  # the shared token: the body says who
        # the CLI sends $TRUNKGUARD_TOKEN, whatever --who says
        env = {"TRUNKGUARD_TOKEN": "bob-token", "TRUNKGUARD_API_TOKEN": ""}
        result = await asyncio.to_thread(CliRunner().invoke, cli, ["resume", "--config", str(tmp_path / "tg.yaml"),
                                                                  "--reason", "window over", "--who", "someone"],
                                         env=env)
        assert result.exit_code == 0 and "resumed by bob (window over)" in result.output, result.output
        intents = (await client.get(f"{base}/api/v1/intents", headers=grafana)).json()
        assert [(a["kind"], a["who"]) for a in intents["operator_actions"]] == \
            [("pause", "alice"), ("ack", "carol"), ("resume", "bob")]
        assert getpass.getuser() not in {a["who"] for a in intents["operator_actions"]}
        assert service.status().pair.paused is None


def test_named_tokens_are_checked_at_start_up(tmp_path: Path) -> None:
    from trunkguard.app import api_tokens
    from trunkguard.errors import ConfigError

    text = ("carriers: {primary: {trunk_group_id: a, trunks: [{name: p, uri: 'sip:127.0.0.1:5070'}]}, "
            "secondary: {trunk_group_id: b, trunks: [{name: s, uri: 'sip:127.0.0.1:5072'}]}}\n")
    twice = text + "api: {tokens: [{name: alice, token_env: A}, {name: alice, token_env: B}]}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(twice)
    assert caught.value.problems == [("api.tokens.1.name", "'alice' is given twice: each name is one person or tool")]
    cfg = parse_config(text + "api: {token_env: OP, tokens: [{name: alice, token_env: A}]}\n")
    with pytest.raises(ConfigError, match="environment variable A is not set"):
        api_tokens(cfg, {"OP": "x"})
    with pytest.raises(ConfigError, match="the same value"):
        api_tokens(cfg, {"OP": "x", "A": "x"})
    assert api_tokens(cfg, {"OP": "x", "A": "y"}).named[0].name == "alice"
    outside = parse_config(text + "api: {listen: '10.0.0.5:8443', token_env: null, tokens: [{name: alice, "
                                  "token_env: A}], tls: {cert_file: c.pem, key_file: k.pem}}\n")
    assert outside.api.tokens[0].role == "operator"  # a named operator token stands in for both shared ones


def test_with_named_tokens_every_read_needs_a_token_and_a_reader_never_acts() -> None:
    from starlette.requests import HTTPConnection

    from trunkguard.api.auth import SHARED, ApiTokens, NamedToken

    def request(token: str | None) -> HTTPConnection:
        headers = [] if token is None else [(b"authorization", f"Bearer {token}".encode())]
        return HTTPConnection({"type": "http", "headers": headers})

    named = ApiTokens(named=(NamedToken("alice", "a-token", "operator"), NamedToken("grafana", "g-token", "reader")),
                      open_endpoints=frozenset({"metrics"}))
    assert not named.can_read(request(None)) and named.can_read(request(None), "metrics")
    assert named.can_read(request("g-token")) and named.actor(request("g-token")) is None
    assert named.actor(request("a-token")) == "alice" and named.actor(request(None)) is None
    assert named.actor(request("a-tokenx")) is None
    assert named.only_reads(request("g-token"))  # a 403 on an action, not the 401 of a wrong token
    assert not any(named.only_reads(request(t)) for t in ("a-token", "a-tokenx", "g-tokenx", None))
    shared_reader = ApiTokens(operator="op", reader="rd")
    assert shared_reader.only_reads(request("rd")) and not shared_reader.only_reads(request("op"))
    assert not shared_reader.only_reads(request("nope")) and not ApiTokens().only_reads(request("rd"))
    shared = ApiTokens(operator="op")
    assert shared.actor(request("op")) == SHARED and shared.actor(request("alice")) is None
    assert ApiTokens().actor(request(None)) == SHARED  # loopback without any token: the operator's machine


async def test_skip_gates_is_only_for_a_failover_and_names_known_gates() -> None:
    from trunkguard.api.schema import ActionRequest

    ok = ActionRequest.model_validate({"kind": "failover", "reason": "r", "skip_gates": ["sweep"]})
    assert ok.skip_gates == ["sweep"]
    for bad in ({"kind": "pause", "reason": "r", "skip_gates": ["sweep"]},
                {"kind": "failover", "reason": "r", "skip_gates": ["trunks"]}):
        with pytest.raises(ValueError):
            ActionRequest.model_validate(bad)


async def test_every_error_has_one_shape_even_for_an_unknown_path_or_method(tmp_path: Path) -> None:
    """`{"error", "detail"}` for every 4xx: a 404 and a 405 too (Starlette's plain text before)."""
    port = free_tcp_port()
    async with daemon(tmp_path, _api(port)), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        missing = await client.get("/api/v1/nothing-here")
        assert missing.status_code == 404 and missing.json() == {"error": "no such endpoint",
                                                                 "detail": "/api/v1/nothing-here"}
        wrong = await client.delete("/api/v1/status")
        assert wrong.status_code == 405 and wrong.json()["error"] == "DELETE is not allowed here"
