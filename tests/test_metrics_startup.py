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
                line = f'trunkguard_swaps_total{{group="default",result="{result}",to="{to}"}} 0.0'
                assert line in lines, line
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
        for group in ("default", ""):  # posted notifications: the group's, and the deployment's (the store ...)
            for severity in ("info", "warning", "critical"):
                line = f'trunkguard_notifications_posted_total{{group="{group}",severity="{severity}"}} 0.0'
                assert line in lines, line
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
        assert 'trunkguard_swaps_total{group="default",result="failed",to="secondary"} 1.0' in text
        assert 'trunkguard_swaps_total{group="default",result="applied",to="secondary"} 0.0' in text
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
        assert 'trunkguard_readiness_gate{gate="sweep",group="default",state="unknown"} 1.0' in text
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


GROUPS = """
carriers:
  a:
    trunk_group_id: tg-a
    trunks: [{{name: a1, uri: "sip:127.0.0.1:5070"}}, {{name: a2, uri: "sip:127.0.0.1:5071"}}]
  b: {{trunk_group_id: tg-b, trunks: [{{name: b1, uri: "sip:127.0.0.1:5072"}}]}}
  x: {{trunk_group_id: tg-x, trunks: [{{name: x1, uri: "sip:127.0.0.1:5073"}}]}}
groups:
  na: {{chain: [a, b], platform: {{rule_id: rule-na}}}}
  eu: {{chain: [x, b], policy: {{mode: observe}}, platform: {{rule_id: rule-eu}}}}
policy: {{readiness: {{sweep: false}}}}
platform:
  kind: emulator
  base_url: http://127.0.0.1:1
  queue_id: queue-1
  client_id_env: TG_CLIENT_ID
  client_secret_env: TG_CLIENT_SECRET
notify: [{{kind: webhook, url_env: TG_HOOK}}]
storage: {{url: "sqlite:///{db}"}}
api: {{listen: "127.0.0.1:1", token_env: TG_TOKEN}}
"""


async def test_with_routing_groups_every_group_has_its_own_series_from_the_start(tmp_path: Path) -> None:
    """Two groups sharing carrier b: each group's counters at 0 for its own chain, its gauges once per
    group, the carrier counts once per (group, carrier); the trunk series carry no group, and
    trunkguard_group_carrier joins them to their groups."""
    service = Service.build(parse_config(GROUPS.format(db=tmp_path / "tg.db")), ENV)
    try:
        api = create_api(service.runtime, service.reader, service.tokens)
        lines = set((await scrape(api)).splitlines())
        chains = {"na": ("a", "b"), "eu": ("x", "b")}
        for group, chain in chains.items():
            for rank, carrier in enumerate(chain):
                assert f'trunkguard_group_carrier{{carrier="{carrier}",group="{group}",rank="{rank}"}} 1.0' in lines
                for result in ("applied", "failed"):
                    line = f'trunkguard_swaps_total{{group="{group}",result="{result}",to="{carrier}"}} 0.0'
                    assert line in lines, line
                trunks = 2 if carrier == "a" else 1
                assert f'trunkguard_carrier_trunks{{carrier="{carrier}",group="{group}"}} {trunks}.0' in lines
                active = 1.0 if rank == 0 else 0.0
                assert (f'trunkguard_active_carrier{{carrier="{carrier}",group="{group}",trunk_group="tg-{carrier}"}} '
                        f"{active}") in lines
            for severity in ("info", "warning", "critical"):
                assert f'trunkguard_notifications_posted_total{{group="{group}",severity="{severity}"}} 0.0' in lines
            assert f'trunkguard_pair_state{{group="{group}",state="primary_active"}} 1.0' in lines
            assert f'trunkguard_swap_in_flight{{group="{group}"}} 0.0' in lines
            assert f'trunkguard_readiness_gate{{gate="certs",group="{group}",state="unknown"}} 1.0' in lines
        assert 'trunkguard_observe_mode{group="na"} 0.0' in lines and 'trunkguard_observe_mode{group="eu"} 1.0' in lines
        # a carrier in no group's chain of that name: no series of it under that group
        assert not any(x.startswith("trunkguard_") and 'carrier="a",group="eu"' in x for x in lines)
        assert not any(x.startswith("trunkguard_") and 'group="na",' in x and 'carrier="x"' in x for x in lines)
        # the per-trunk series: once per trunk, whatever the number of groups its carrier is in
        probes = [x for x in lines if x.startswith('trunkguard_probes_total{carrier="b",kind="options",result="ok"')]
        assert probes == ['trunkguard_probes_total{carrier="b",kind="options",result="ok",trunk="b1"} 0.0']
        assert not any("group=" in x for x in lines if x.startswith(("trunkguard_probe", "trunkguard_trunk_state")))

        service.runtime.observe("swap_done", {"to": "b", "ok": True, "group": "eu"})
        service.runtime.observe("notify", {"kind": "swap_committed", "severity": "critical", "message": "m",
                                           "group": "eu"})
        service.runtime.observe("notify", {"kind": "store_unreachable", "severity": "critical", "message": "m"})
        text = await scrape(api)
        assert 'trunkguard_swaps_total{group="eu",result="applied",to="b"} 1.0' in text
        assert 'trunkguard_swaps_total{group="na",result="applied",to="b"} 0.0' in text
        assert 'trunkguard_notifications_posted_total{group="eu",severity="critical"} 1.0' in text
        assert 'trunkguard_notifications_posted_total{group="na",severity="critical"} 0.0' in text
        assert 'trunkguard_notifications_posted_total{group="",severity="critical"} 1.0' in text
    finally:
        service.reader.close()
        service.store.close()
