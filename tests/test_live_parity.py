"""Live parity on Genesys Cloud: both carriers' trunk bases read from the platform (the emulator, on
real paths and shapes), every media and transport property compared except those each carrier must
have its own, the profiles held against what the platform has, an unreadable trunk base failing the
check; by `trunkguard parity --live` (stored on SQLite and PostgreSQL, read by the gate) and by the
daemon's own re-check."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sipp, eventually, free_port
from trunkguard.actuation.base import TrunkSettingsReader
from trunkguard.actuation.genesys import GenesysPlatform
from trunkguard.actuation.http import PlatformHttp
from trunkguard.app import Service
from trunkguard.asgi import serving
from trunkguard.config import Profile, load_config, parse_config
from trunkguard.config_advice import unconfigured_gates
from trunkguard.config_checks import check_parity_live, stored_readiness
from trunkguard.parity import MUST_DIFFER, against_profile, compare_trunk_bases, must_differ
from trunkguard.rules import machine_rules
from trunkguard.store import Store
from trunkguard.testing.genesys_emulator import GenesysState, byoc_org, create_genesys_app

ENV = {"GC_CLIENT_ID": "trunkguard", "GC_CLIENT_SECRET": "lab-secret", "TG_TOKEN": "t"}
CODEC_SENTENCE = ("trunk_media_codec: Carrier A has pcmu, g729, pcma; Carrier B has pcmu, pcma, g729 "
                  "(codec renegotiation at cutover)")


# ---- the comparison (pure) -----------------------------------------------------------------------


def test_a_codec_order_difference_names_the_property_and_both_values() -> None:
    a = {"trunk_media_codec": ["audio/pcmu", "audio/g729", "audio/pcma"], "trunk_media_dtmf_payload": 101}
    b = {"trunk_media_codec": ["audio/pcmu", "audio/pcma", "audio/g729"], "trunk_media_dtmf_payload": 101}
    [found] = compare_trunk_bases(a, b, primary_label="Carrier A", secondary_label="Carrier B")
    assert found.sentence == CODEC_SENTENCE
    assert (found.field, found.primary, found.secondary) == ("trunk_media_codec", a["trunk_media_codec"],
                                                             b["trunk_media_codec"])


def test_properties_each_carrier_must_have_its_own_are_not_compared() -> None:
    a = {"trunk_transport_serverProxyList": ["sbc.a.example"], "trunk_transport_server_proxy_list": ["x"],
         "trunk_label": "A", "trunk_access_acl_allowList": ["198.51.100.0/24"],
         "trunk_transport_protocolVariant": "tls"}
    b = {"trunk_transport_serverProxyList": ["sbc.b.example"], "trunk_transport_server_proxy_list": ["y"],
         "trunk_label": "B", "trunk_access_acl_allowList": ["203.0.113.0/24"],
         "trunk_transport_protocolVariant": "udp"}
    found = compare_trunk_bases(a, b)
    assert [d.field for d in found] == ["trunk_transport_protocolVariant"]  # the only one that must match
    assert found[0].sentence == ("trunk_transport_protocolVariant: the primary carrier has tls; the secondary "
                                 "carrier has udp (another signalling transport and security)")
    assert all(reason for reason in MUST_DIFFER.values())  # every exception says why
    assert must_differ("trunk_transport_server_proxy_list") == MUST_DIFFER["trunk_transport_serverProxyList"]


def test_only_properties_both_trunk_bases_have_are_compared_and_other_prefixes_are_not() -> None:
    a = {"trunk_media_dscpValue": 46, "trunk_max_dial_timeout": "1m", "trunk_media_codec": ["audio/opus"]}
    b = {"trunk_max_dial_timeout": "2m", "trunk_media_codec": ["audio/opus"]}
    assert compare_trunk_bases(a, b) == []


def test_the_platform_is_held_against_a_declared_profile() -> None:
    profile = Profile(codecs=["PCMU", "G729", "PCMA"], dtmf="rfc2833")
    same = {"trunk_media_codec": ["audio/pcmu", "audio/g729", "audio/pcma"], "trunk_media_dtmf_method": "RTP Events"}
    assert against_profile("secondary", profile, same) == []
    other = {"trunk_media_codec": ["audio/pcmu", "audio/pcma", "audio/g729"],
             "trunk_media_dtmf_method": "In-band Audio"}
    assert [d.sentence for d in against_profile("secondary", profile, other)] == [
        "trunk_media_codec: the secondary carrier's profile declares pcmu, g729, pcma, the platform has pcmu, "
        "pcma, g729 (codec renegotiation at cutover)",
        "trunk_media_dtmf_method: the secondary carrier's profile declares rfc2833, the platform has In-band Audio "
        "(IVR digits lost or doubled after cutover)"]


def test_a_genesys_config_needs_no_profile_for_the_parity_gate(tmp_path: Path) -> None:
    cfg = parse_config(_config_text(port=1, store=f"sqlite:///{tmp_path}/tg.db"))
    assert unconfigured_gates(cfg) == ()
    assert "parity" in machine_rules(cfg).policy.gates
    generic = parse_config(_config_text(port=1, store=f"sqlite:///{tmp_path}/tg.db").replace(
        "kind: genesys", "kind: generic\n  rule_id: rule-1"))
    assert unconfigured_gates(generic) == (("parity", "no profiles in the config"),)


# ---- the adapter against the emulator --------------------------------------------------------------


@pytest.fixture
async def org() -> AsyncIterator[tuple[GenesysState, str]]:
    state = byoc_org()
    port = free_port(socket.SOCK_STREAM)
    async with serving(create_genesys_app(state), "127.0.0.1", port):
        yield state, f"http://127.0.0.1:{port}"


def _adapter(url: str) -> GenesysPlatform:
    http = PlatformHttp(url, client_id="trunkguard", client_secret="lab-secret", deadline=3.0)
    return GenesysPlatform(http, primary_trunk_base="tb-carrier-a", secondary_trunk_base="tb-carrier-b")


async def test_the_adapter_reads_each_carriers_trunk_base_values_in_effect(org: tuple[GenesysState, str]) -> None:
    _, url = org
    platform = _adapter(url)
    try:
        assert isinstance(platform, TrunkSettingsReader)
        settings = await platform.trunk_settings()
    finally:
        await platform.close()
    assert {r: (s["id"], s["name"]) for r, s in settings.items()} == {
        "primary": ("tb-carrier-a", "Carrier A"), "secondary": ("tb-carrier-b", "Carrier B")}
    values = settings["secondary"]["values"]
    assert values["trunk_media_codec"] == ["audio/pcmu", "audio/g729", "audio/pcma"]  # the instance
    assert values["trunk_media_dscpValue"] == 46  # instance null: the default is in effect
    assert values["trunk_transport_serverProxyList"] == ["sbc.tb-carrier-b.example"]


async def test_an_administrators_edit_behind_trunkguards_back_fails_live_parity(
        org: tuple[GenesysState, str], tmp_path: Path) -> None:
    state, url = org
    cfg = parse_config(_config_text(port=1, store=f"sqlite:///{tmp_path}/tg.db"))
    platform = _adapter(url)
    try:
        alike = await check_parity_live(cfg, platform)
        assert (alike.ok, alike.summary, alike.result["differences"]) == (True, "the trunk bases match", [])
        state.set_property("tb-carrier-b", "trunk_media_codec", ["audio/pcmu", "audio/pcma", "audio/g729"])
        state.set_property("tb-carrier-b", "trunk_media_disconnectOnIdleRTP", False)
        edited = await check_parity_live(cfg, platform)
    finally:
        await platform.close()
    assert edited.ok is False
    assert [d["sentence"] for d in edited.result["differences"]] == [
        CODEC_SENTENCE,
        "trunk_media_disconnectOnIdleRTP: Carrier A has true; Carrier B has false (silent calls dropped on one "
        "carrier only)"]


async def test_a_trunk_base_that_cannot_be_read_does_not_pass(org: tuple[GenesysState, str], tmp_path: Path) -> None:
    state, url = org
    state.forbid_trunk_base("tb-carrier-b")
    cfg = parse_config(_config_text(port=1, store=f"sqlite:///{tmp_path}/tg.db"))
    platform = _adapter(url)
    try:
        result = await check_parity_live(cfg, platform)
    finally:
        await platform.close()
    assert result.ok is False
    assert result.summary == ("could not read the secondary carrier's trunk base tb-carrier-b "
                              "(403: missing telephony:plugin:all)")
    assert result.result["error"] == result.summary


# ---- `trunkguard parity --live`, stored where the gate reads it ------------------------------------------


def _config_text(*, port: int, store: str, secondary_profile: str = "", health: str = "",
                 primary_uri: str = "sip:127.0.0.1:5070", secondary_uri: str = "sip:127.0.0.1:5072",
                 extra: str = "") -> str:
    return f"""
carriers:
  primary: {{trunk_group_id: tb-carrier-a, {health}trunks: [{{name: a1, uri: "{primary_uri}"}}]}}
  secondary: {{trunk_group_id: tb-carrier-b, {health}{secondary_profile}trunks: [{{name: b1, uri: "{secondary_uri}"}}]}}
platform:
  kind: genesys
  base_url: http://127.0.0.1:{port}
  client_id_env: GC_CLIENT_ID
  client_secret_env: GC_CLIENT_SECRET
storage: {{url: "{store}"}}
{extra}"""


async def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "trunkguard", *args], capture_output=True,
                                   text=True, check=False, timeout=60, env={**os.environ, **ENV, "NO_COLOR": "1"})


async def test_parity_live_names_each_difference_and_stores_it_for_the_gate(store_url: str, tmp_path: Path) -> None:
    state = byoc_org()
    port = free_port(socket.SOCK_STREAM)
    config = tmp_path / "trunkguard.yaml"
    config.write_text(_config_text(port=port, store=store_url,
                                   secondary_profile="profile: {codecs: [PCMU, G729, PCMA]}, "))
    async with serving(create_genesys_app(state), "127.0.0.1", port):
        alike = await _cli("parity", "--live", "--config", str(config))
        assert alike.returncode == 0, alike.stdout + alike.stderr
        assert alike.stdout.splitlines()[0] == "parity: the carriers' trunk bases match (read from the platform)"
        state.set_property("tb-carrier-b", "trunk_media_codec", ["audio/pcmu", "audio/pcma", "audio/g729"])
        edited = await _cli("parity", "--live", "--config", str(config))
        as_json = await _cli("parity", "--live", "--json", "--config", str(config))
    assert edited.returncode == 1, edited.stdout + edited.stderr
    assert edited.stdout.splitlines()[:3] == [
        "parity: 2 differences (read from the platform)",
        f"  {CODEC_SENTENCE}",
        "  trunk_media_codec: the secondary carrier's profile declares pcmu, g729, pcma, the platform has pcmu, "
        "pcma, g729 (codec renegotiation at cutover)"]
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and data["ok"] is False and data["source"] == "platform"
    assert [(d["source"], d["field"]) for d in data["differences"]] == [("platform", "trunk_media_codec"),
                                                                         ("declared", "trunk_media_codec")]
    store = Store(store_url)
    try:
        row = store.latest_checks("secondary")["parity"]
        assert row["ok"] is False and row["result"]["source"] == "platform"
        assert row["result"]["differences"][0]["sentence"] == CODEC_SENTENCE
        assert stored_readiness(load_config(config), store).parity_ok is False  # the gate is closed
    finally:
        store.close()


async def test_parity_live_says_which_trunk_base_it_could_not_read(tmp_path: Path) -> None:
    state = byoc_org()
    state.forbid_trunk_base("tb-carrier-b")
    port = free_port(socket.SOCK_STREAM)
    config = tmp_path / "trunkguard.yaml"
    config.write_text(_config_text(port=port, store=f"sqlite:///{tmp_path}/tg.db"))
    async with serving(create_genesys_app(state), "127.0.0.1", port):
        result = await _cli("parity", "--live", "--config", str(config))
    assert result.returncode == 1
    assert result.stdout.strip() == ("parity: could not read the secondary carrier's trunk base tb-carrier-b "
                                     "(403: missing telephony:plugin:all)")


async def test_parity_live_on_a_platform_without_trunk_settings_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "trunkguard.yaml"
    config.write_text(_config_text(port=1, store=f"sqlite:///{tmp_path}/tg.db").replace(
        "kind: genesys", "kind: generic\n  rule_id: rule-1"))
    result = await _cli("parity", "--live", "--config", str(config))
    assert result.returncode == 2
    assert "platform kind generic keeps none (genesys does)" in result.stderr


# ---- the daemon's re-check ---------------------------------------------------------------------------


@pytest.mark.sipp
async def test_the_daemon_rechecks_parity_from_the_trunk_bases_and_closes_the_gate(
        tmp_path: Path, sipp_uas: Callable[..., Sipp], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUNKGUARD_STATE_DIR", str(tmp_path))
    state = byoc_org()
    primary, secondary = sipp_uas(), sipp_uas()
    port = free_port(socket.SOCK_STREAM)
    health = "health: {interval: 1s, timeout: 800ms, confirm_interval: 200ms}, "
    cfg = parse_config(_config_text(
        port=port, store=f"sqlite:///{tmp_path}/tg.db", health=health, primary_uri=primary.uri,
        secondary_uri=secondary.uri, extra=f"""policy:
  poll_interval: 300ms
  readiness: {{sweep: false, certs: false, parity: true, recheck_interval: 1s}}
api: {{listen: "127.0.0.1:{free_port(socket.SOCK_STREAM)}", token_env: TG_TOKEN}}
"""))
    service = Service.build(cfg, ENV)
    stop = asyncio.Event()
    reader = Store(cfg.storage.url)

    def parity() -> dict[str, Any]:
        return reader.latest_checks("secondary").get("parity") or {}

    async with serving(create_genesys_app(state), "127.0.0.1", port):
        task = asyncio.create_task(service.run(stop))
        try:
            await eventually(lambda: parity().get("ok") is True and service.status().readiness.parity_ok,
                             "the first re-check from the trunk bases, and the gate open")
            assert parity()["result"]["source"] == "platform" and parity()["term"] is not None
            state.set_property("tb-carrier-b", "trunk_media_codec", ["audio/pcmu", "audio/pcma", "audio/g729"])
            await eventually(lambda: parity().get("ok") is False and service.status().readiness.parity_ok
                             is False, "the administrator's edit seen by a re-check, and the gate closed")
            assert parity()["summary"] == CODEC_SENTENCE
        finally:
            reader.close()
            stop.set()
            await asyncio.wait_for(task, 20)
