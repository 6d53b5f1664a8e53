"""The operator's view in a real browser (Debian's Chromium, driven by Playwright) and /metrics,
against the daemon running on the lab: carriers, timeline, and the Approve click that fails back."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, eventually
from trunkguard.api.view import status_json
from trunkguard.app import Service
from trunkguard.config import parse_config
from trunkguard.config_checks import run_readiness
from trunkguard.lab.lab import Lab, free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault

CHROMIUM = os.environ.get("TRUNKGUARD_CHROMIUM", "/usr/bin/chromium")
TOKEN = "dashboard-token"


def need_chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing under CI=true: .ci/run must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the dashboard test needs a browser")
    return CHROMIUM


@dataclass
class Daemon:
    lab: Lab
    service: Service
    url: str
    config: Path

    async def cli(self, *args: str, token: str | None = TOKEN) -> tuple[int, str, str]:
        """Run a trunkguard command against this daemon without blocking its event loop."""
        env = {**os.environ, **({"TRUNKGUARD_API_TOKEN": token} if token else {})}
        if token is None:
            env.pop("TRUNKGUARD_API_TOKEN", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "trunkguard", *args, "--config", str(self.config), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode or 0, out.decode(), err.decode()

    async def until(self, check: Callable[[], object], what: str, timeout: float = 20) -> None:
        await eventually(check, what, timeout=timeout, detail=lambda: self.service.status().last_sentence)


@pytest.fixture
async def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Daemon]:
    monkeypatch.delenv("TRUNKGUARD_STATE_DIR", raising=False)
    async with running_lab() as lab:
        listen = f"127.0.0.1:{free_tcp_port()}"
        text = lab.config_text("fast", storage=f"sqlite:///{tmp_path}/tg.db", api_listen=listen)
        (tmp_path / "tg.yaml").write_text(text)
        cfg = parse_config(text)
        await run_readiness(cfg)
        service = Service.build(cfg, lab_environment(TOKEN))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        d = Daemon(lab, service, f"http://{listen}", tmp_path / "tg.yaml")
        await d.until(lambda: all(h.state.value == "up" for h in d.service.status().health.values()), "carriers up")
        yield d
        stop.set()
        await asyncio.wait_for(task, 20)


async def test_metrics_serve_the_blackbox_style_families(daemon: Daemon) -> None:
    await daemon.until(lambda: all(daemon.service.status().samples.recent.get(t) for t in ("carrier-a-1", "carrier-b-1")),
                       "a probe of each trunk")
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{daemon.url}/metrics")).text
    for family in ("trunkguard_probe_success{carrier=\"primary\",trunk=\"carrier-a-1\"} 1.0",
                   "trunkguard_probe_duration_seconds{carrier=\"primary\",phase=\"transaction\",trunk=\"carrier-a-1\"}",
                   "trunkguard_probe_sip_status_code{carrier=\"primary\",trunk=\"carrier-a-1\"} 200.0",
                   "trunkguard_probe_rtt_seconds_bucket{carrier=\"primary\",le=\"0.005\"}",
                   "trunkguard_carrier_usable_trunks{carrier=\"primary\",group=\"default\"} 1.0",
                   "trunkguard_readiness_gate{gate=\"sweep\",group=\"default\",state=\"ok\"} 1.0",
                   "trunkguard_store_ok 1.0",
                   "trunkguard_sip_messages_total{outcome=\"malformed\"} 0.0",
                   "trunkguard_trunk_state{carrier=\"secondary\",state=\"up\",trunk=\"carrier-b-1\"} 1.0",
                   "trunkguard_active_carrier{carrier=\"primary\",group=\"default\",trunk_group=\"tg-primary\"} 1.0",
                   "trunkguard_probes_total{carrier=\"primary\",kind=\"options\",result=\"ok\",trunk=\"carrier-a-1\"}",
                   "trunkguard_decision_latency_seconds_bucket", "trunkguard_leader 1.0"):
        assert family in text, family
    daemon.lab.primary.fault = Fault(down=True)
    await daemon.until(lambda: daemon.service.status().pair.active == "secondary" and not daemon.service.status().pair.in_flight,
                       "the swap")
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{daemon.url}/metrics")).text
    assert 'trunkguard_swaps_total{group="default",result="applied",to="secondary"} 1.0' in text
    assert 'trunkguard_active_carrier{carrier="secondary",group="default",trunk_group="tg-secondary"} 1.0' in text
    assert 'trunkguard_probe_success{carrier="primary",trunk="carrier-a-1"} 0.0' in text
    assert 'trunkguard_carrier_usable_trunks{carrier="primary",group="default"} 0.0' in text
    assert "_created" not in text


async def test_dashboard_shows_the_outage_and_the_approve_click_fails_back(daemon: Daemon) -> None:
    from playwright.async_api import async_playwright, expect

    executable = need_chromium()
    daemon.lab.primary.fault = Fault(down=True)
    await daemon.until(lambda: daemon.service.status().pair.active == "secondary" and not daemon.service.status().pair.in_flight,
                       "the swap")
    daemon.lab.primary.fault = Fault()
    await daemon.until(lambda: status_json(daemon.service.status())["pending_approval"], "failback pending", timeout=30)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = await browser.new_page()
        await page.goto(daemon.url + "/")
        await expect(page.locator("#active")).to_contain_text("secondary carrier (tg-secondary)")
        await expect(page.locator("tr[data-trunk='carrier-a-1']")).to_contain_text("up")
        await expect(page.locator("#timeline")).to_contain_text("activating the secondary carrier")
        await expect(page.locator("#checks")).to_contain_text("20/20 DIDs answered")
        me = daemon.service.status().facts.me
        assert me is not None
        await expect(page.locator(f"#replicas tr[data-name='{me.name}']")).to_contain_text("leader (term 1) (this one)")
        banner = page.locator("#approval")
        await expect(banner).to_be_visible()
        await page.click("#approve")  # no reason: refused on the page, nothing sent
        await expect(page.locator("#message")).to_contain_text("failback: a reason is required")
        await page.fill("#reason", "carrier A fixed its SBC")
        await page.fill("#token", "wrong")
        await page.click("#approve")
        await expect(page.locator("#message")).to_contain_text("a valid API token is required")
        assert daemon.lab.routed_to() == "tg-secondary"
        await page.fill("#token", TOKEN)
        await page.click("#approve")
        await expect(page.locator("#active")).to_contain_text("primary carrier (tg-primary)", timeout=15_000)
        await expect(banner).to_be_hidden()
        await expect(page.locator("#timeline")).to_contain_text("failback approved by dashboard (carrier A fixed its SBC)")
        await browser.close()
    assert daemon.lab.routed_to() == "tg-primary"
    assert daemon.lab.emulator.writes_applied == 2


async def test_operator_commands_pause_resume_and_force_a_failover(daemon: Daemon) -> None:
    code, _, err = await daemon.cli("pause", "--reason", "carrier maintenance window", token=None)
    assert code == 2 and "TRUNKGUARD_API_TOKEN (api.token_env) is not set" in err
    code, out, _ = await daemon.cli("pause", "--reason", "carrier maintenance window", "--who", "bob")
    assert code == 0 and "paused by bob (carrier maintenance window)" in out
    code, out, _ = await daemon.cli("ack", "--reason", "on it", "--who", "bob", "--json")
    assert code == 0 and "acknowledged by bob (on it)" in out
    daemon.lab.primary.fault = Fault(down=True)
    await daemon.until(lambda: daemon.service.status().health["carrier-a-1"].state.value == "down", "the primary down")
    await asyncio.sleep(1)
    assert daemon.lab.routed_to() == "tg-primary"  # paused: nothing moves by itself
    code, out, _ = await daemon.cli("status", "--json")
    assert code == 0 and '"paused"' in out and "carrier maintenance window" in out
    daemon.lab.primary.fault = Fault()
    await daemon.until(lambda: daemon.service.status().health["carrier-a-1"].state.value == "up", "the primary back")
    code, out, _ = await daemon.cli("resume", "--reason", "maintenance over", "--who", "bob")
    assert code == 0 and "resumed by bob" in out
    code, out, _ = await daemon.cli("failover", "--reason", "carrier A asked us to drain", "--who", "carol", "--force")
    assert code == 0 and "activating the secondary carrier: forced by carol" in out
    await daemon.until(lambda: daemon.lab.routed_to() == "tg-secondary", "the forced swap")
    await daemon.until(lambda: daemon.service.status().pair.in_flight is None, "the swap to finish")
    code, out, _ = await daemon.cli("failover", "--reason", "again", "--force")
    assert code == 0 and "ignored: routing is already on the secondary carrier" in out
    code, out, _ = await daemon.cli("history")
    assert "operator" in out and "forced by carol" in out
    assert daemon.lab.emulator.writes_applied == 1
