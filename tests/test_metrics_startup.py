"""/metrics right after start-up, before any probe, swap or notification: every counter's label set is
there at 0, so Prometheus's `increase()` sees the first failure after a start (a series that appears
at 1 has no earlier sample to increase from, and TrunkguardSwapFailed would stay quiet)."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.applications import Starlette

from trunkguard.api.app import create_api
from trunkguard.app import Service
from trunkguard.config import parse_config

CONFIG = """
carriers:
  primary:
    trunk_group_id: tg-primary
    media: {{enabled: true, number: "15550000001"}}
    trunks:
      - {{name: primary-1, uri: "sip:127.0.0.1:5070"}}
      - {{name: primary-2, uri: "sip:127.0.0.1:5071"}}
  secondary:
    trunk_group_id: tg-secondary
    trunks: [{{name: secondary-1, uri: "sip:127.0.0.1:5072"}}]
platform:
  kind: emulator
  base_url: http://127.0.0.1:1
  rule_id: rule-1
  queue_id: queue-1
  client_id_env: TG_CLIENT_ID
  client_secret_env: TG_CLIENT_SECRET
notify:
  - {{kind: pagerduty, routing_key_env: TG_PD}}
  - {{kind: slack, webhook_url_env: TG_SLACK}}
  - {{kind: webhook, url_env: TG_HOOK}}
  - {{kind: webhook, url_env: TG_HOOK2}}
storage: {{url: "sqlite:///{db}"}}
api: {{listen: "127.0.0.1:1", token_env: TG_TOKEN}}
"""
ENV = {"TG_CLIENT_ID": "id", "TG_CLIENT_SECRET": "secret", "TG_PD": "key", "TG_SLACK": "http://127.0.0.1:1/s",
       "TG_HOOK": "http://127.0.0.1:1/h", "TG_HOOK2": "http://127.0.0.1:1/h2", "TG_TOKEN": "token"}


async def scrape(api: Starlette) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://tg") as client:
        answer = await client.get("/metrics", headers={"Authorization": "Bearer token"})
    assert answer.status_code == 200, answer.text
    return answer.text


async def test_every_counter_label_set_is_exported_at_zero_before_anything_happened(tmp_path: Path) -> None:
    service = Service.build(parse_config(CONFIG.format(db=tmp_path / "tg.db")), ENV)
    try:
        text = await scrape(create_api(service.runtime, service.reader, service.tokens))
        lines = set(text.splitlines())
        for to in ("primary", "secondary"):
            for result in ("applied", "failed"):
                assert f'trunkguard_swaps_total{{result="{result}",to="{to}"}} 0.0' in lines, (to, result)
        for trunk, carrier, kinds in (("primary-1", "primary", ("options", "media")),
                                      ("primary-2", "primary", ("options", "media")),
                                      ("secondary-1", "secondary", ("options",))):
            for kind in kinds:
                for result in ("ok", "timeout", "rejected", "error"):
                    line = (f'trunkguard_probes_total{{carrier="{carrier}",kind="{kind}",result="{result}",'
                            f'trunk="{trunk}"}} 0.0')
                    assert line in lines, line
        # no media checks on the secondary: no media series for it (they would stay 0 for ever)
        assert 'kind="media",result="ok",trunk="secondary-1"' not in text
        for destination in ("pagerduty", "slack", "webhook"):
            for family in ("trunkguard_notifications_total", "trunkguard_notification_failures_total"):
                line = f'{family}{{destination="{destination}"}} 0.0'
                assert sum(1 for x in text.splitlines() if x == line) == 1, line  # two webhooks: one series
        assert "trunkguard_notifications_dropped_total 0.0" in lines
        for carrier in ("primary", "secondary"):
            assert f'trunkguard_probe_rtt_seconds_count{{carrier="{carrier}"}} 0.0' in lines, carrier
    finally:
        service.reader.close()
        service.store.close()


async def test_the_first_swap_and_probe_count_from_zero(tmp_path: Path) -> None:
    """The label sets created at start are the ones the runtime's observations increase."""
    service = Service.build(parse_config(CONFIG.format(db=tmp_path / "tg.db")), ENV)
    try:
        api = create_api(service.runtime, service.reader, service.tokens)  # its Metrics hear what follows
        service.runtime.observe("swap_done", {"to": "secondary", "ok": False})
        service.runtime.observe("probe", {"trunk": "primary-1", "kind": "options", "ok": False, "outcome": "timeout",
                                          "rtt_ms": None})
        text = await scrape(api)
        assert 'trunkguard_swaps_total{result="failed",to="secondary"} 1.0' in text
        assert 'trunkguard_swaps_total{result="applied",to="secondary"} 0.0' in text
        assert ('trunkguard_probes_total{carrier="primary",kind="options",result="timeout",trunk="primary-1"} 1.0'
                in text)
        for result in ("ok", "rejected", "error"):
            assert (f'trunkguard_probes_total{{carrier="primary",kind="options",result="{result}",trunk="primary-1"}} '
                    "0.0" in text), result
    finally:
        service.reader.close()
        service.store.close()


async def test_a_gate_that_is_not_configured_exports_no_state(tmp_path: Path) -> None:
    """With no profiles, parity is 'not configured': no `unknown` state for TrunkguardReadinessStale to page on."""
    service = Service.build(parse_config(CONFIG.format(db=tmp_path / "tg.db")), ENV)
    try:
        text = await scrape(create_api(service.runtime, service.reader, service.tokens))
        assert 'trunkguard_readiness_gate{gate="sweep",state="unknown"} 1.0' in text
        assert 'gate="parity"' not in text
    finally:
        service.reader.close()
        service.store.close()


async def test_the_build_and_the_process_are_described(tmp_path: Path) -> None:
    from importlib.metadata import version

    service = Service.build(parse_config(CONFIG.format(db=tmp_path / "tg.db")), ENV)
    try:
        text = await scrape(create_api(service.runtime, service.reader, service.tokens))
        assert f'trunkguard_build_info{{version="{version("trunkguard")}"}} 1.0' in text
        assert "process_resident_memory_bytes " in text and "process_cpu_seconds_total " in text
    finally:
        service.reader.close()
        service.store.close()
