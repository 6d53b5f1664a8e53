"""What a person sees on the dashboard at 3 a.m., in Debian's Chromium (Playwright), against the
daemon on the lab: each state the header must put in words, the stale page when the daemon goes
away, and the buttons (each needs a reason; a forced failover asks first). Every test keeps a
screenshot in test-artifacts/dashboard/ (ignored by git; CI keeps the folder)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import eventually
from tests.test_dashboard import TOKEN, need_chromium
from trunkguard.app import Service
from trunkguard.config import parse_config
from trunkguard.config_checks import run_readiness
from trunkguard.lab.lab import Lab, free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "dashboard"
pytestmark = pytest.mark.slow


@asynccontextmanager
async def dashboard(tmp: Path, tweak: Callable[[str], str] = lambda t: t) -> AsyncIterator[tuple[Lab, Service, Any,
                                                                                                 asyncio.Event]]:
    """The lab, a daemon on it (config text passed through `tweak`), and a Chromium page on its dashboard."""
    from playwright.async_api import async_playwright

    executable = need_chromium()
    async with running_lab() as lab:
        listen = f"127.0.0.1:{free_tcp_port()}"
        cfg = parse_config(tweak(lab.config_text("fast", storage=f"sqlite:///{tmp}/tg.db", api_listen=listen)))
        await run_readiness(cfg)
        service = Service.build(cfg, lab_environment(TOKEN))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            await eventually(lambda: service.status().leader and all(
                h.state.value == "up" for h in service.status().health.values()), "carriers up")
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await page.goto(f"http://{listen}/")
                await page.fill("#token", TOKEN)
                yield lab, service, page, stop
                await browser.close()
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_a_healthy_pair_says_so_and_a_stopped_daemon_turns_the_page_stale(tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with dashboard(tmp_path) as (_, _service, page, stop):
        await expect(page.locator("#calls")).to_have_text("Calls go to the primary carrier (tg-primary).")
        await expect(page.locator("#act")).to_have_text("No action needed.")
        await expect(page.locator("#headline")).to_have_class("ok")
        await expect(page.locator("#connection")).to_have_text("live")
        await expect(page.locator("#overview")).to_be_hidden()  # one group: no overview of groups
        await shot(page, "healthy")
        stop.set()  # the daemon goes away; the page must not stay green
        await expect(page.locator("body")).to_have_class("stale", timeout=8_000)
        await expect(page.locator("#stale")).to_contain_text("STALE since")
        await expect(page.locator("#connection")).to_have_text("connection lost")
        await shot(page, "stale")


async def test_both_carriers_unusable_is_an_alarm_in_words(tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with dashboard(tmp_path) as (lab, _service, page, _):
        lab.primary.fault = Fault(down=True)
        lab.secondary.fault = Fault(down=True)
        await expect(page.locator("#headline")).to_have_class("critical", timeout=15_000)
        await expect(page.locator("#act")).to_contain_text("BOTH CARRIERS ARE UNUSABLE", timeout=15_000)
        await expect(page.locator("tr[data-trunk='carrier-b-1']")).to_contain_text("NO")
        await shot(page, "both-unusable")


async def test_a_queued_failover_shows_the_call_count_and_can_be_forced_after_a_confirmation(tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with dashboard(tmp_path) as (lab, _service, page, _):
        lab.emulator.calls["primary_inbound_queue_id"] = 12
        lab.primary.fault = Fault(media_down=True)  # SIP answers, no RTP: unusable, not hard down: the breaker holds
        await expect(page.locator("#act")).to_contain_text("A failover is queued", timeout=30_000)
        await expect(page.locator("#act")).to_contain_text("12 live calls, and the breaker allows fewer than 5")
        await shot(page, "queued")
        await page.click("#failover")  # no reason: refused before asking the API
        await expect(page.locator("#message")).to_contain_text("a reason is required")
        assert lab.routed_to() == "tg-primary"
        dialogs: list[str] = []

        async def dismiss(dialog: Any) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()
        page.once("dialog", dismiss)
        await page.fill("#why", "carrier A confirmed media is broken")
        await page.click("#failover")
        await asyncio.sleep(0.5)
        assert dialogs and "NOT checked" in dialogs[0] and lab.routed_to() == "tg-primary"  # declined: nothing moved

        async def accept(dialog: Any) -> None:
            await dialog.accept()
        page.once("dialog", accept)
        await page.click("#failover")
        await expect(page.locator("#calls")).to_have_text("Calls go to the secondary carrier (tg-secondary).",
                                                          timeout=15_000)
        await expect(page.locator("#context")).to_contain_text("on the secondary for")
        await expect(page.locator("#context")).to_contain_text("cooling ends in")
        await expect(page.locator("#timeline")).to_contain_text("forced by dashboard")
        await shot(page, "forced-failover")
        assert lab.routed_to() == "tg-secondary"


async def test_acknowledge_cancel_and_pause_each_need_a_reason_and_show_who(tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with dashboard(tmp_path) as (lab, service, page, _):
        lab.emulator.calls["primary_inbound_queue_id"] = 12
        lab.primary.fault = Fault(media_down=True)
        await expect(page.locator("#act")).to_contain_text("A failover is queued", timeout=30_000)
        await page.click("#ack")
        await expect(page.locator("#message")).to_contain_text("ack: a reason is required")
        await page.fill("#why", "on it, calling carrier A")
        await page.click("#ack")
        await expect(page.locator("#context")).to_contain_text("acknowledged by dashboard")
        await page.click("#cancel")
        await expect(page.locator("#message")).to_contain_text("cancelled the queued activation")
        await page.click("#pause")
        await expect(page.locator("#act")).to_contain_text("Automatic actions are paused by dashboard "
                                                           "(on it, calling carrier A)")
        # paused with the primary unusable: calls still go to a dead carrier, so it stays an alarm
        await expect(page.locator("#act")).to_contain_text("The primary carrier is down and calls still go to it")
        await expect(page.locator("#headline")).to_have_class("critical")
        await shot(page, "paused")
        assert lab.routed_to() == "tg-primary"
        actions = [(a.kind, a.who) for a in [service.status().pair.paused] if a is not None]
        assert actions == [("pause", "dashboard")]


async def test_observe_mode_is_said_in_the_header(tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with dashboard(tmp_path, lambda t: t.replace("policy:\n", "policy:\n  mode: observe\n", 1)) as (
            _, _service, page, _stop):
        await expect(page.locator("#act")).to_contain_text("OBSERVE MODE", timeout=10_000)
        await expect(page.locator("#headline")).to_have_class("warning")
        await shot(page, "observe")


# ---- routing groups, on a fed page ------------------------------------------------------------------
# The page against a fixed feed: the status event is the summary of a real two-group service
# (tests/test_metrics_startup.py's GROUPS: na a > b, eu x > b), its `groups` list written here in the
# API's shape so that each test sets the night it needs; the trunks event is the real first one.

GROUP_KEYS = {"name", "chain", "active", "state", "since", "in_flight", "paused_by", "routing_read", "last_sentence",
              "swaps", "headline"}
FED = "http://trunkguard.test"


def group_entry(name: str, chain: list[str], active: str, *, state: str = "primary_active",
                moving_to: str | None = None, act: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """One `groups` entry as the API gives it, with its headline: `act` as (level, sentence)."""
    level = "critical" if any(lv == "critical" for lv, _ in act) else "warning" if act else "ok"
    calls = f"Calls go to the {active} carrier (tg-{active})" + (
        f"; moving them to the {moving_to} carrier now" if moving_to else "")
    return {"name": name, "chain": chain, "active": active, "state": state, "since": "2026-11-27T03:00:00Z",
            "in_flight": None if moving_to is None else {"to": moving_to, "key": f"tg-{name}-1"},
            "paused_by": None, "routing_read": True, "last_sentence": "", "swaps": 0,
            "headline": {"level": level, "calls": calls,
                         "act": [{"level": lv, "sentence": s} for lv, s in act]
                         or [{"level": "ok", "sentence": "No action needed."}],
                         "context": [f"{state.replace('_', ' ')} for 5 min"], "cooling_period": "90 s"}}


class Feed:
    """The page's server: the page, its event stream (the status and trunks as set now, then closed:
    the page reconnects each second, as after a lost connection), its checks, and its actions."""

    def __init__(self, status: dict[str, Any], trunks: dict[str, Any]) -> None:
        from importlib import resources

        self.page = resources.files("trunkguard.api").joinpath("static/index.html").read_text()
        self.status, self.trunks = status, trunks
        self.actions: list[dict[str, Any]] = []

    async def handle(self, route: Any) -> None:
        path = route.request.url.removeprefix(FED).split("#")[0]
        if path == "/":
            await route.fulfill(status=200, content_type="text/html", body=self.page)
        elif path == "/api/v1/events":
            events = [("status", self.status), ("trunks", self.trunks), ("history", []), ("tick", {"at": 0})]
            await route.fulfill(status=200, content_type="text/event-stream",
                                body="".join(f"event: {kind}\ndata: {json.dumps(data)}\n\n" for kind, data in events))
        elif path == "/api/v1/actions":
            body = json.loads(route.request.post_data or "{}")
            self.actions.append(body)
            await route.fulfill(status=200, content_type="application/json",
                                body=json.dumps({"sentences": [f"group {body.get('group')}: {body['kind']} by dashboard"]}))
        elif path == "/api/v1/checks":
            await route.fulfill(status=200, content_type="application/json", body="{}")
        else:
            await route.fulfill(status=404, body=path)


@asynccontextmanager
async def fed_page(tmp: Path, config: str) -> AsyncIterator[tuple[Feed, Any]]:
    """A Chromium page on the dashboard, fed the summary of a real service built from `config`."""
    from playwright.async_api import async_playwright

    from tests.test_metrics_startup import ENV as STARTUP_ENV
    from trunkguard.api.view import changed_trunks, summary_json
    from trunkguard.moments import iso_times

    executable = need_chromium()
    service = Service.build(parse_config(config.format(db=tmp / "tg.db")), STARTUP_ENV)
    try:
        view = service.status()
        status = iso_times(summary_json(view), floor=0)
        trunks = iso_times({"full": True, "trunks": changed_trunks(None, view)}, floor=0)
    finally:
        service.reader.close()
        service.store.close()
    if "groups" in status:  # the API's own list, once it has one: the shape the page is written against
        assert status["groups"] and all(set(g) >= GROUP_KEYS for g in status["groups"]), status["groups"]
    feed = Feed(status, trunks)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.route(f"{FED}/**", feed.handle)
        yield feed, page
        await browser.close()


async def test_two_groups_one_failing_over_show_an_overview_and_each_groups_own_page(tmp_path: Path) -> None:
    from playwright.async_api import expect

    from tests.test_metrics_startup import GROUPS

    async with fed_page(tmp_path, GROUPS) as (feed, page):
        na_down = (("critical", "The a carrier is down and calls still go to it: every a trunk is down. Force a "
                                "failover if the next carrier can take them."),)
        feed.status["groups"] = [group_entry("na", ["a", "b"], "a", act=na_down), group_entry("eu", ["x", "b"], "x")]
        feed.status["carriers"]["a"].update(usable=0, states={"down": 2})
        for t in feed.trunks["trunks"]:
            if t["carrier"] == "a":
                t.update(state="down", usable=False)
        await page.goto(FED + "/")
        na, eu = page.locator("#groups tr[data-group='na']"), page.locator("#groups tr[data-group='eu']")
        await expect(page.locator("#overview")).to_be_visible()
        await expect(page.locator("#groups tr")).to_have_count(2)
        await expect(na).to_have_class("critical selected")
        await expect(na.locator("td").nth(1)).to_have_text("a")
        await expect(na.locator("td").nth(3)).to_have_text(na_down[0][1])
        await expect(eu).to_have_class("ok")
        await expect(eu.locator("td").nth(1)).to_have_text("x")
        await expect(eu.locator("td").nth(3)).to_have_text("No action needed.")
        # the first group is shown: its pair, its headline, its carriers and their trunks only
        await expect(page.locator("#group")).to_have_text("na")
        await expect(page.locator("#active")).to_have_text("a carrier (tg-a)")
        await expect(page.locator("#headline")).to_have_class("critical")
        await expect(page.locator("#act")).to_have_text(na_down[0][1])
        await expect(page.locator("#carriers tr")).to_have_count(2)
        await expect(page.locator("#carriers tr[data-carrier='x']")).to_have_count(0)
        await expect(page.locator("#trunks tr")).to_have_count(3)  # a1, a2, b1
        await expect(page.locator("tr[data-trunk='a1']")).to_contain_text("NO")
        await expect(page.locator("tr[data-trunk='x1']")).to_have_count(0)
        await shot(page, "groups-na-down")

        # na's swap starts: its row says where calls are moving; eu's row is as it was
        feed.status["groups"][0] = group_entry("na", ["a", "b"], "a", state="activating", moving_to="b")
        await expect(na.locator("td").nth(1)).to_have_text("a — moving to b", timeout=5_000)
        await expect(na.locator("td").nth(2)).to_have_text("activating")
        await expect(page.locator("#active")).to_have_text("a carrier (tg-a) — swap to b in flight")
        await expect(eu.locator("td").nth(1)).to_have_text("x")
        await shot(page, "groups-na-moving")

        await eu.click()  # eu's page: its pair, its carriers x and b, their trunks
        assert page.url.endswith("#group=eu")
        await expect(page.locator("#group")).to_have_text("eu")
        await expect(eu).to_have_class("ok selected")
        await expect(page.locator("#active")).to_have_text("x carrier (tg-x)")
        await expect(page.locator("#headline")).to_have_class("ok")
        await expect(page.locator("#carriers tr[data-carrier]")).to_have_text([re.compile(r"^x \(tg-x\)"),
                                                                              re.compile(r"^b \(tg-b\)")])
        await expect(page.locator("#trunks tr")).to_have_count(2)
        await expect(page.locator("tr[data-trunk='x1']")).to_have_count(1)
        await expect(page.locator("tr[data-trunk='a1']")).to_have_count(0)
        await expect(page.locator("#shown")).to_contain_text("the group's carriers: x, b")
        await shot(page, "groups-eu")

        # an action goes with the group shown
        await page.fill("#token", TOKEN)
        await page.fill("#why", "carrier x works tonight")
        await page.click("#pause")
        await expect(page.locator("#message")).to_have_text("group eu: pause by dashboard")
        assert feed.actions[-1]["group"] == "eu" and feed.actions[-1]["kind"] == "pause"

        # a link to a group's page opens on it
        await page.goto(FED + "/#group=na")
        await expect(page.locator("#group")).to_have_text("na")
        await expect(page.locator("#groups tr[data-group='na']")).to_have_class("ok selected")
        await expect(page.locator("#trunks tr[data-trunk='a1']")).to_have_count(1)


async def test_one_group_shows_no_overview_and_the_page_as_before(tmp_path: Path) -> None:
    from playwright.async_api import expect

    from tests.test_metrics_startup import CONFIG

    async with fed_page(tmp_path, CONFIG) as (feed, page):
        feed.status["groups"] = [group_entry("default", ["primary", "secondary"], "primary")]
        await page.goto(FED + "/")
        await expect(page.locator("#active")).to_have_text("primary carrier (tg-primary)")
        await expect(page.locator("#overview")).to_be_hidden()
        await expect(page.locator("#group-name")).to_be_hidden()
        await expect(page.locator("#acting-on")).to_be_hidden()
        await expect(page.locator("#carriers tr")).to_have_count(2)
        await expect(page.locator("#trunks tr")).to_have_count(3)
        await page.fill("#token", TOKEN)
        await page.fill("#why", "maintenance")
        await page.click("#pause")
        await expect(page.locator("#message")).to_have_text("group None: pause by dashboard")
        assert "group" not in feed.actions[-1]  # one group: the action's body as before
