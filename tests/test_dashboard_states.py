"""What a person sees on the dashboard at 3 a.m., in Debian's Chromium (Playwright), against the
daemon on the lab: each state the header must put in words, the stale page when the daemon goes
away, and the buttons (each needs a reason; a forced failover asks first). Every test keeps a
screenshot in test-artifacts/dashboard/ (ignored by git; CI keeps the folder)."""

from __future__ import annotations

import asyncio
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
