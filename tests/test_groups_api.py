"""The REST API and the CLI act on a routing group (issue 27, item 2): a two-group daemon (the shape of
examples/groups.yaml: na with na-a > na-b > shared-c, eu with eu-x > shared-c, on the lab's SIP
responders and platform emulator, one rule each) where an action must name its group, an unknown group
is refused by the CLI (exit 2) and the API (400) with nothing changed, `failover --group eu` moves
only eu's rule, the status has every group at a glance, the history and intents filter by group, the
answers fit the published document, and with the daemon stopped the store answers by group and a
queued action is carried out on its own group by `trunkguard cycle`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from starlette.applications import Starlette

from tests.conftest import eventually
from tests.test_api_contract import ISO, _check_document, _moments
from tests.test_rollout_operator import TOKEN, _cycle, _invoke
from trunkguard.app import Service
from trunkguard.config import parse_config
from trunkguard.lab.lab import QUEUE, Lab, free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import SipResponder
from trunkguard.store import Store
from trunkguard.testing.emulator import default_rule

HEALTH = "{interval: 1s, timeout: 800ms, confirm_interval: 200ms, down_after: 2, confirm_burst: 2, up_after: 2}"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CARRIERS = ("na-a", "na-b", "shared-c", "eu-x")
NAMES = "2 routing groups (na, eu)"


def _config(lab: Lab, uris: dict[str, str], tmp: Path, port: int) -> str:
    carriers = "".join(f"""
  {name}: {{trunk_group_id: tg-{name}, health: {HEALTH}, trunks: [{{name: {name}-1, uri: "{uri}"}}]}}"""
                       for name, uri in uris.items())
    return f"""carriers:{carriers}
groups:
  na:
    chain: [na-a, na-b, shared-c]
    policy: {{failback: {{mode: sustained}}}}
    platform: {{rule_id: rule-inbound-na}}
  eu:
    chain: [eu-x, shared-c]
    platform: {{rule_id: rule-inbound-eu}}
policy:
  cooling_period: 3s
  poll_interval: 500ms
  failback: {{mode: approval}}
  readiness: {{sweep: false, certs: false, parity: false}}
platform:
  kind: emulator
  base_url: {lab.url}
  queue_id: {QUEUE}
  client_id_env: TRUNKGUARD_CLIENT_ID
  client_secret_env: TRUNKGUARD_CLIENT_SECRET
  timeout: 3s
storage: {{url: "sqlite:///{tmp}/tg.db"}}
api: {{listen: "127.0.0.1:{port}", token_env: TRUNKGUARD_API_TOKEN}}
"""


@asynccontextmanager
async def _four_carriers(tmp: Path) -> AsyncIterator[tuple[Lab, Path]]:
    """The lab (its two responders and two more) with each group's rule in its emulator, and the config
    file the CLI reads."""
    async with running_lab() as lab:
        extra = [await SipResponder("127.0.0.1", server_header=f"lab carrier {n}").start() for n in ("C", "X")]
        try:
            uris = dict(zip(CARRIERS, [lab.primary.uri, lab.secondary.uri, extra[0].uri, extra[1].uri], strict=True))
            lab.emulator.rules.update({"rule-inbound-na": default_rule("rule-inbound-na", "tg-na-a"),
                                       "rule-inbound-eu": default_rule("rule-inbound-eu", "tg-eu-x")})
            config = tmp / "trunkguard.yaml"
            config.write_text(_config(lab, uris, tmp, free_tcp_port()))
            yield lab, config
        finally:
            for responder in extra:
                await responder.stop()


@asynccontextmanager
async def _daemon(config: Path) -> AsyncIterator[Service]:
    """The daemon's service with its API; yields once both groups' routing is read and every carrier is up."""
    text = await asyncio.to_thread(config.read_text)
    service = Service.build(parse_config(text, base_dir=config.parent), lab_environment(TOKEN))
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await eventually(lambda: service.status().leader and service.status().routing_read
                         and all(h.state.value == "up" for h in service.status().trunks),
                         "the lease, both groups' routing read, every carrier up",
                         detail=lambda: service.status().last_sentence)
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


@asynccontextmanager
async def _two_groups(tmp: Path) -> AsyncIterator[tuple[Lab, Service, Path, int]]:
    async with _four_carriers(tmp) as (lab, config), _daemon(config) as service:
        yield lab, service, config, int(service.config.api.listen.rsplit(":", 1)[1])


def _routed(lab: Lab) -> dict[str, str]:
    return {rule: str(lab.emulator.rules[f"rule-inbound-{rule}"]["action"]["trunkGroupId"]) for rule in ("na", "eu")}


def _active(service: Service, group: str) -> str:
    view = service.status().group(group)
    assert view is not None
    return view.pair.active


async def test_the_cli_and_the_api_act_on_the_group_named_and_only_on_it(tmp_path: Path, apps: list[Starlette]
                                                                          ) -> None:
    async with _two_groups(tmp_path) as (lab, service, config, port), \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=30) as client:
        document = (await client.get("/api/v1/openapi.json")).json()
        _check_document(document, apps[0])
        spec = schemathesis.openapi.from_dict(document)
        assert next(p for p in document["paths"]["/api/v1/status"]["get"]["parameters"] if p["name"] == "group")[
            "schema"]["enum"] == ["na", "eu"]

        async def answer(method: str, path: str, code: int, **kwargs: Any) -> Any:
            """The answer, checked against the published document (its moments as ISO 8601)."""
            response = await client.request(method, path, **kwargs)
            assert response.status_code == code, (method, path, response.text[:300])
            spec[path.split("?")[0]][method].validate_response(response)
            body = response.json()
            assert all(ISO.fullmatch(m) for m in _moments(body)), _moments(body)
            return body

        async def audit() -> tuple[Any, ...]:
            """What a refused action must not change: each group's pair and the actions recorded."""
            actions = (await answer("GET", "/api/v1/intents", 200))["operator_actions"]
            return _routed(lab), _active(service, "na"), _active(service, "eu"), len(actions)

        before = await audit()
        assert before[:3] == ({"na": "tg-na-a", "eu": "tg-eu-x"}, "na-a", "eu-x")

        # ---- the CLI checks the group (and --to, and the trunk, within it) against the config: exit 2
        config_arg = ("--config", str(config))
        for args, words in (
                (["failover", "--force", "--reason", "drill"], f"--group is required: the config has {NAMES}"),
                (["pause", "--reason", "window"], f"--group is required: the config has {NAMES}"),
                (["failback", "--queue", "--reason", "back"], f"--group is required: the config has {NAMES}"),
                (["failover", "--group", "nope", "--force", "--reason", "drill"],
                 "--group must be one of the config's routing groups (na, eu), not 'nope'"),
                (["history", "--group", "nope"], "--group must be one of the config's routing groups (na, eu)"),
                (["status", "--group", "nope"], "--group must be one of the config's routing groups (na, eu)"),
                (["failover", "--group", "eu", "--to", "na-b", "--force", "--reason", "drill"],
                 "--to must be one of group eu's chain's carriers (eu-x, shared-c), not 'na-b'"),
                (["maintenance", "na-a-1", "--group", "eu", "--reason", "upgrade"],
                 "TRUNK must be one of group eu's trunks (shared-c-1, eu-x-1), not 'na-a-1'")):
            code, out, _ = await _invoke(*args, *config_arg)
            assert code == 2 and words in out, (args, out)

        # ---- the API refuses an action without a group, or with one it does not have: 400, nothing changed
        failover = {"kind": "failover", "reason": "drill", "who": "t"}
        for body, words in (
                (failover, f"group is required: this deployment has {NAMES}"),
                ({**failover, "group": "nope"}, "group must be one of this deployment's routing groups (na, eu), "
                                                "not 'nope'"),
                ({**failover, "group": "eu", "to": "na-b"},
                 "to must be one of group eu's chain's carriers (eu-x, shared-c), not 'na-b'"),
                ({"kind": "maintenance", "reason": "upgrade", "trunk": "na-a-1", "group": "eu"},
                 "trunk must be one of group eu's carriers' trunks (eu-x, shared-c), not 'na-a-1'")):
            error = await answer("POST", "/api/v1/actions", 400, json=body)
            assert error["error"] == words, error
        for path in ("/api/v1/status?group=nope", "/api/v1/history?group=nope", "/api/v1/intents?group=nope",
                     "/api/v1/status?group=eu&carrier=na-a"):
            error = await answer("GET", path, 400)
            assert "nope" in error["error"] or "is not in group eu's chain" in error["error"], error
        assert await audit() == before

        # ---- failover --group eu moves eu alone
        code, out, _ = await _invoke("failover", "--group", "eu", "--force", "--reason", "eu drill", "--wait", "30s",
                                     *config_arg)
        assert code == 0 and "applied" in out, out
        assert _routed(lab) == {"na": "tg-na-a", "eu": "tg-shared-c"}
        assert (_active(service, "na"), _active(service, "eu")) == ("na-a", "shared-c")

        # ---- the status: every group at a glance; ?group= narrows to that group
        code, out, _ = await _invoke("status", "--json", *config_arg)
        data = json.loads(out)
        assert code == 0 and data["source"] == "daemon", out
        groups = {g["name"]: g for g in data["groups"]}
        assert list(groups) == ["na", "eu"] and data["active"] == "na-a" and set(data["carriers"]) == set(CARRIERS)
        assert (groups["na"]["active"], groups["na"]["chain"], groups["na"]["swaps"]) == (
            "na-a", ["na-a", "na-b", "shared-c"], 0)
        assert (groups["eu"]["active"], groups["eu"]["chain"], groups["eu"]["swaps"]) == ("shared-c",
                                                                                        ["eu-x", "shared-c"], 1)
        assert groups["eu"]["in_flight"] is None and groups["eu"]["paused_by"] is None and groups["eu"]["routing_read"]
        assert groups["eu"]["headline"]["calls"] == "Group eu: calls go to the shared-c carrier (tg-shared-c)"
        assert groups["na"]["headline"]["calls"] == data["headline"]["calls"]
        assert groups["eu"]["last_sentence"].startswith("group eu: ")
        eu = await answer("GET", "/api/v1/status?group=eu", 200)
        assert (eu["active"], eu["swaps"], set(eu["carriers"])) == ("shared-c", 1, {"eu-x", "shared-c"})
        assert eu["headline"]["calls"] == groups["eu"]["headline"]["calls"]
        assert [g["name"] for g in eu["groups"]] == ["na", "eu"]
        for path in ("/api/v1/status", "/api/v1/status?group=na&samples=2", "/api/v1/status?group=eu&problems=1"):
            await answer("GET", path, 200)
        code, out, _ = await _invoke("status", "--group", "eu", "--json", *config_arg)
        assert code == 0 and json.loads(out)["active"] == "shared-c", out
        code, out, _ = await _invoke("status", *config_arg)
        lines = out.splitlines()
        assert code == 0 and lines[0].split() == ["group", "calls", "go", "to", "state", "a", "person", "must", "act"]
        assert lines[1].split()[:4] == ["na", "na-a", "primary_active", "no"], out
        assert lines[2].split()[:3] == ["eu", "shared-c", "secondary_active"], out
        assert "group na (the first; `trunkguard status --group NAME` for another):" in out, out
        assert "Group na: calls go to the na-a carrier (tg-na-a)." in out and "eu-x-1" not in out, out
        code, out, _ = await _invoke("status", "--group", "eu", *config_arg)
        assert code == 0 and "Group eu: calls go to the shared-c carrier (tg-shared-c)." in out and "na-b-1" not in out

        # ---- an action through the API with its group, and paused by someone shows in that group only
        paused = await answer("POST", "/api/v1/actions", 200, json={"kind": "pause", "reason": "window", "who": "t",
                                                                    "group": "eu"})
        assert paused["status"]["paused"] == {"who": "t", "why": "window"} and paused["status"]["active"] == "shared-c"
        status = await answer("GET", "/api/v1/status", 200)
        assert [g["paused_by"] for g in status["groups"]] == [None, "t"] and status["paused"] is None
        code, out, _ = await _invoke("resume", "--group", "eu", "--reason", "window over", *config_arg)
        assert code == 0, out

        # ---- the history and the intents by group
        code, out, _ = await _invoke("history", "--group", "eu", "--json", *config_arg)
        rows = json.loads(out)["decisions"]
        assert code == 0 and rows and {d["group"] for d in rows} == {"eu"}, out
        code, out, _ = await _invoke("history", "--json", *config_arg)
        assert code == 0 and {d["group"] for d in json.loads(out)["decisions"]} == {"na", "eu"}, out
        page = await answer("GET", "/api/v1/history?group=eu&limit=1", 200)
        assert page["total"] >= len(rows) and page["next"] == "/api/v1/history?group=eu&limit=1&page=2", page
        assert {d["group"] for d in (await client.get(page["next"])).json()["decisions"]} == {"eu"}
        intents = await answer("GET", "/api/v1/intents?group=eu", 200)
        assert [i["to"] for i in intents["intents"]] == ["shared-c"] and all(
            i["group"] == "eu" for i in intents["intents"])
        assert [a["kind"] for a in intents["operator_actions"]] == ["failover", "pause", "resume"]
        assert (await answer("GET", "/api/v1/intents?group=na", 200)) == {"intents": [], "operator_actions": []}
        async with client.stream("GET", "/api/v1/events") as events:  # the dashboard's summary has the groups too
            line = await asyncio.wait_for(anext(x async for x in events.aiter_lines() if x.startswith("data:")), 10)
            assert [g["name"] for g in json.loads(line[5:])["groups"]] == ["na", "eu"]

    # ---- the daemon stopped: the store answers by group
    code, out, _ = await _invoke("status", "--json", *config_arg)
    stored = json.loads(out)
    assert code == 3 and stored["source"] == "store", out
    assert [(g["name"], g["active"]) for g in stored["groups"]] == [("na", "na-a"), ("eu", "shared-c")]
    assert stored["active"] == "na-a" and stored["groups"][1]["headline"]["calls"].startswith(
        "Group eu: calls went to the shared-c carrier (tg-shared-c) when the store last heard")
    assert set(stored) == set(data)
    code, out, _ = await _invoke("status", "--group", "eu", *config_arg)
    assert code == 3 and "group eu: shared-c carrier, state secondary_active" in out, out
    assert "routing: shared-c carrier (tg-shared-c), state secondary_active" in out, out
    code, out, _ = await _invoke("history", "--group", "eu", "--json", *config_arg)
    from_store = json.loads(out)
    assert code == 0 and from_store["source"] == "store" and {d["group"] for d in from_store["decisions"]} == {"eu"}

    # ---- a queued action is stored with its group and a cycle carries it out on that group
    code, out, _ = await _invoke("pause", "--queue", "--group", "eu", "--reason", "night window", *config_arg)
    assert code == 0 and "for group eu: queued" in out, out
    store = Store(f"sqlite:///{tmp_path}/tg.db")
    try:
        [(_, group, action)] = store.queued_actions_of(None)
        assert (group, action.kind, action.why) == ("eu", "pause", "night window")
    finally:
        store.close()


async def test_a_cycle_carries_out_each_groups_queued_action_on_its_group(tmp_path: Path) -> None:
    async with _four_carriers(tmp_path) as (lab, config):
        async with _daemon(config):
            pass  # the store made, both groups' state stored
        for args in (("pause", "--group", "eu", "--reason", "eu window"),
                     ("ack", "--group", "na", "--reason", "on it")):
            code, out, _ = await _invoke(*args, "--queue", "--config", str(config))
            assert code == 0, out
        code, out = await _cycle(config, "--json", "--deadline", "40s")
        result = json.loads(out)
        assert code == 12 and result["outcome"] == "waiting", out  # eu is paused
        assert len(result["actions"]) == 2 and _routed(lab) == {"na": "tg-na-a", "eu": "tg-eu-x"}, result
    store = Store(f"sqlite:///{tmp_path}/tg.db")
    try:
        assert store.queued_actions_of(None) == []
        views = store.stored_views()
        assert views["eu"]["snapshot"].paused is not None and views["na"]["snapshot"].paused is None
        assert views["na"]["snapshot"].acked is not None and views["eu"]["snapshot"].acked is None
        rows = store.actions(group=None)  # the queued row, marked taken, and the action as carried out
        taken = {(a["group"], a["kind"]) for a in rows if a["result"].startswith("carried out by a cycle")}
        done = {(a["group"], a["kind"]) for a in rows if a["result"].startswith(("paused by", "acknowledged by"))}
        assert taken == done == {("eu", "pause"), ("na", "ack")}, rows
    finally:
        store.close()


@pytest.mark.parametrize("as_json", [False, True])
async def test_status_without_group_on_one_group_is_as_before(tmp_path: Path, as_json: bool) -> None:
    """One group (no `groups:`): no overview, no --group needed; the JSON's `groups` has `default` alone."""
    from tests.test_rollout_operator import _daemon

    async with _daemon(tmp_path) as (_, _service, config):
        code, out, _ = await _invoke("status", "--config", str(config), *(["--json"] if as_json else []))
    assert code == 0, out
    if as_json:
        [group] = json.loads(out)["groups"]
        assert (group["name"], group["chain"], group["active"]) == ("default", ["primary", "secondary"], "primary")
        assert group["headline"]["calls"] == "Calls go to the primary carrier (tg-primary)"
    else:
        assert out.splitlines()[0] == "Calls go to the primary carrier (tg-primary).", out
