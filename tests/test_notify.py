"""Notifications against a real HTTP receiver on loopback: payload shapes, retries, never blocking."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import free_port
from trunkguard.app import senders_from_config
from trunkguard.asgi import serving
from trunkguard.config import parse_config
from trunkguard.core.failover import Notify
from trunkguard.errors import ConfigError
from trunkguard.notify import Alert, Dispatcher
from trunkguard.notify.opsgenie import Opsgenie
from trunkguard.notify.pagerduty import PagerDuty
from trunkguard.notify.slack import Slack
from trunkguard.notify.webhook import Webhook
from trunkguard.runtime.alerts import Alerts


@dataclass
class Receiver:
    url: str
    seen: list[tuple[str, str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # queued statuses, then 202
    hang: float = 0.0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port(socket.SOCK_STREAM)
    rx = Receiver(f"http://127.0.0.1:{port}")

    async def anything(request: Request) -> Response:
        raw = request.scope["raw_path"].decode()  # as sent, percent-encoding kept
        rx.seen.append((request.method, raw + (f"?{request.url.query}" if request.url.query else ""),
                        await request.json(), dict(request.headers)))
        if rx.hang:
            await asyncio.sleep(rx.hang)
        if rx.answers:
            status, headers = rx.answers.pop(0)
            return JSONResponse({"error": "injected"}, status_code=status, headers=headers)
        return JSONResponse({"status": "success"}, status_code=202)

    app = Starlette(routes=[Route("/{path:path}", anything, methods=["POST"])])
    async with serving(app, "127.0.0.1", port):
        yield rx


def _alert(kind: str = "swap_committed", severity: str = "critical") -> Alert:
    return Alert(kind, severity, "inbound routing now on the secondary carrier", "trunkguard/tg-primary", 1_800_000_000.0,
                 {"to": "secondary"})


async def _deliver(receiver: Receiver, sender: Any, *alerts: Alert, **kw: Any) -> Dispatcher:
    dispatcher = Dispatcher([sender], **kw)
    dispatcher.start()
    for alert in alerts:
        dispatcher.post(alert)
    await dispatcher.drain(10)
    await dispatcher.close()
    return dispatcher


async def test_pagerduty_triggers_then_resolves_the_same_dedup_key(receiver: Receiver) -> None:
    await _deliver(receiver, PagerDuty("R0UT1NGKEY", receiver.url), _alert(), _alert("failback_committed", "info"))
    (_, path1, trigger, _), (_, path2, resolve, _) = receiver.seen
    assert path1 == path2 == "/v2/enqueue"
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "R0UT1NGKEY"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "trunkguard/tg-primary"
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "trunkguard"
    assert trigger["payload"]["timestamp"].startswith("2027-01-15T")
    assert resolve == {"routing_key": "R0UT1NGKEY", "dedup_key": "trunkguard/tg-primary", "event_action": "resolve"}


async def test_opsgenie_creates_with_an_alias_and_closes_it(receiver: Receiver) -> None:
    await _deliver(receiver, Opsgenie("GK", receiver.url), _alert(), _alert("failback_committed", "info"))
    (_, create_path, create, headers), (_, close_path, _, _) = receiver.seen
    assert create_path == "/v2/alerts" and headers["authorization"] == "GenieKey GK"
    assert create["alias"] == "trunkguard/tg-primary" and create["priority"] == "P1"
    assert len(create["message"]) <= 130
    assert close_path == "/v2/alerts/trunkguard%2Ftg-primary/close?identifierType=alias"


async def test_slack_and_webhook_carry_the_sentence(receiver: Receiver) -> None:
    await _deliver(receiver, Slack(f"{receiver.url}/services/T/B/X"), _alert())
    await _deliver(receiver, Webhook(f"{receiver.url}/hook"), _alert())
    slack, hook = receiver.seen[0][2], receiver.seen[1][2]
    assert "inbound routing now on the secondary carrier" in slack["text"]
    assert hook["kind"] == "swap_committed" and hook["resolves"] is False


async def test_503s_and_a_429_are_retried_until_delivered(receiver: Receiver) -> None:
    receiver.answers = [(503, {}), (429, {"Retry-After": "0.2"}), (503, {})]
    sent = await _deliver(receiver, Webhook(receiver.url), _alert())
    assert len(receiver.seen) == 4
    assert sent.sent["webhook"] == 1 and sent.failed["webhook"] == 0


async def test_a_400_is_not_retried_and_is_counted_as_failed(receiver: Receiver) -> None:
    receiver.answers = [(400, {})]
    sent = await _deliver(receiver, Webhook(receiver.url), _alert())
    assert len(receiver.seen) == 1
    assert sent.failed["webhook"] == 1 and "HTTP 400" in sent.last_error["webhook"]


async def test_posting_never_waits_and_a_full_queue_drops_the_oldest(receiver: Receiver) -> None:
    receiver.hang = 5.0  # the receiver stalls: the engine must not
    dispatcher = Dispatcher([Webhook(receiver.url)], maxsize=3, timeout=0.3, deadline=0.5)
    dispatcher.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(10):
        dispatcher.post(_alert(f"kind{i}"))
    assert loop.time() - started < 0.05
    assert dispatcher.dropped == 7 and dispatcher.pending == 3
    await dispatcher.close()


def test_missing_environment_variables_are_named_with_their_field() -> None:
    cfg = parse_config("""
carriers:
  primary: {trunk_group_id: a, trunks: [{name: p, uri: "sip:127.0.0.1:5070"}]}
  secondary: {trunk_group_id: b, trunks: [{name: s, uri: "sip:127.0.0.1:5072"}]}
notify:
  - {kind: pagerduty, routing_key_env: PD_KEY}
  - {kind: slack, webhook_url_env: SLACK_URL}
""")
    with pytest.raises(ConfigError) as info:
        senders_from_config(cfg.notify, {"SLACK_URL": "http://127.0.0.1:1/x"})
    assert info.value.problems == [("notify[0].routing_key_env", "environment variable PD_KEY is not set")]
    senders = senders_from_config(cfg.notify, {"PD_KEY": "k", "SLACK_URL": "http://127.0.0.1:1/x"})
    assert [s.name for s in senders] == ["pagerduty", "slack"]


async def test_pagerduty_is_not_paged_for_info_but_slack_hears_it(receiver: Receiver) -> None:
    ready = _alert("failback_ready", "info")
    await _deliver(receiver, PagerDuty("K", receiver.url), ready, _alert("failback_committed", "info"))
    assert [body["event_action"] for _, _, body, _ in receiver.seen] == ["resolve"]  # only the resolve
    await _deliver(receiver, Slack(f"{receiver.url}/slack"), ready)
    assert "failback_ready" in receiver.seen[-1][2]["text"]


async def test_an_acknowledgement_reaches_pagerduty_and_opsgenie_as_acknowledge(receiver: Receiver) -> None:
    ack = _alert("acknowledged", "info")
    await _deliver(receiver, PagerDuty("K", receiver.url), ack)
    await _deliver(receiver, Opsgenie("GK", receiver.url), ack)
    assert receiver.seen[0][2] == {"routing_key": "K", "dedup_key": "trunkguard/tg-primary",
                                   "event_action": "acknowledge"}
    assert receiver.seen[1][1] == "/v2/alerts/trunkguard%2Ftg-primary/acknowledge?identifierType=alias"


async def test_each_routing_group_pages_as_its_own_pagerduty_incident(receiver: Receiver) -> None:
    """Two groups' swaps are two incidents; one group's return resolves its own, never the other's; each
    page names its group and that group's carrier; a page of the deployment's own keeps the old key."""
    dispatcher = Dispatcher([PagerDuty("R0UT1NGKEY", receiver.url)])
    dispatcher.start()
    where = {"na": ("b", "secondary_active"), "eu": ("c", "secondary_active")}
    alerts = Alerts(dispatcher, "trunkguard/tg-a", lambda: 1_800_000_000.0, lambda: {"active": "a"},
                    lambda *_: None, {"na": "trunkguard/na/tg-a", "eu": "trunkguard/eu/tg-x"},
                    lambda g: {"active": where[g][0], "state": where[g][1]})
    alerts.notify(Notify("swap_committed", "critical", "group na: inbound routing now on carrier b", "na"))
    alerts.notify(Notify("swap_committed", "critical", "group eu: inbound routing now on carrier c", "eu"))
    alerts.notify(Notify("failback_committed", "info", "group na: inbound routing now on carrier a", "na"))
    alerts.notify(Notify("lease_lost", "critical", "the lease was lost"))
    await dispatcher.drain(10)
    await dispatcher.close()
    events = [(body["dedup_key"], body["event_action"], body.get("payload", {}).get("custom_details", {}))
              for _, _, body, _ in receiver.seen]
    assert [(key, action) for key, action, _ in events] == [
        ("trunkguard/na/tg-a", "trigger"), ("trunkguard/eu/tg-x", "trigger"), ("trunkguard/na/tg-a", "resolve"),
        ("trunkguard/tg-a", "trigger")]
    assert events[0][2] == {"group": "na", "active": "b", "state": "secondary_active"}
    assert events[1][2] == {"group": "eu", "active": "c", "state": "secondary_active"}
