"""SIGHUP re-reads the config: the policy's numbers, the notifications and the API tokens take effect
without a restart; a change to the carriers, the store or the platform is refused with a sentence
naming it, and so is a config that does not load; the daemon runs on with what it had."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.daemon import Daemon, write_config
from trunkguard.config import parse_config
from trunkguard.config_reload import changes, refusals

TOKENS = "token_file: operator-token, read_token_file: read-token"


def test_sighup_applies_the_policy_and_the_tokens_and_refuses_what_is_read_only_at_start(tmp_path: Path) -> None:
    (tmp_path / "operator-token").write_text("op-1\n")
    (tmp_path / "read-token").write_text("read-1\n")
    path, port = write_config(tmp_path, api_extra=TOKENS)
    original = path.read_text()
    daemon = Daemon(path, port)
    try:
        daemon.wait_for("API listening on")
        status = daemon.get("/api/v1/status", "read-1").json()
        assert status["mode"] == "act" and "sweep" in status["readiness"]["gates"]

        # the reloadable parts: policy numbers, a notification destination, the tokens (files re-read)
        (tmp_path / "read-token").write_text("read-2\n")
        path.write_text(original + "policy: {mode: observe, cooling_period: 5m, readiness: {sweep: false}}\n"
                                   "notify: [{kind: webhook, url_env: TG_TEST_ID}]\n")
        daemon.signal(signal.SIGHUP)
        line = daemon.wait_for("config reloaded")
        assert line["level"] == "info"
        assert line["msg"] == ("config reloaded: policy.mode, policy.cooling_period, policy.readiness.sweep, "
                                   "notify changed")
        assert daemon.get("/api/v1/status", "read-1").status_code == 401  # the old token no longer reads
        status = daemon.get("/api/v1/status", "read-2").json()
        assert status["mode"] == "observe" and "sweep" not in status["readiness"]["gates"]
        assert status["notifications"]["destinations"] == ["webhook"]
        metrics = daemon.get("/metrics", "read-2").text
        assert 'trunkguard_observe_mode{group="default"} 1.0' in metrics

        # a change to the carriers (and the store) is refused, naming it; nothing of the file is applied
        path.write_text(original.replace("127.0.0.2", "127.0.0.3").replace("tg.db", "other.db")
                        + "policy: {mode: act}\n")
        daemon.signal(signal.SIGHUP)
        refused = daemon.wait_for("config reload refused")
        assert refused["level"] == "warning"
        assert refused["msg"] == (
            "config reload refused: carriers.secondary.trunks[0].uri: changed, and the carriers and their trunks "
            "are read only at start: restart trunkguard to apply it; storage.url: changed, and the store is read "
            "only at start: restart trunkguard to apply it; still running with the config as it was")
        assert daemon.get("/api/v1/status", "read-2").json()["mode"] == "observe"

        # a config that does not load is refused with its error
        path.write_text(original + "policy: {cooling_period: 3d}\n")
        daemon.signal(signal.SIGHUP)
        broken = daemon.wait_for("config reload refused")
        assert "policy.cooling_period: must be at most 1d, not 3d" in broken["msg"]
        # an unreadable token file is refused too, and the tokens in use stay
        (tmp_path / "operator-token").unlink()
        path.write_text(original)
        daemon.signal(signal.SIGHUP)
        missing = daemon.wait_for("config reload refused")
        assert f"api.token_file: {tmp_path}/operator-token does not exist" in missing["msg"]
        assert daemon.get("/api/v1/status", "read-2").status_code == 200

        assert daemon.get("/healthz").json()["ok"] is True  # still running
    finally:
        assert daemon.stop() == 0


def test_changes_name_each_path_and_a_list_once() -> None:
    base = """
carriers:
  primary: {trunk_group_id: tg-a, trunks: [{name: a1, uri: "sip:127.0.0.1:5070"}]}
  secondary: {trunk_group_id: tg-b, trunks: [{name: b1, uri: "sip:127.0.0.2:5070"}]}
"""
    old = parse_config(base)
    grown = parse_config(base.replace('5070"}]}\n  secondary', '5070"}, {name: a2, uri: "sip:127.0.0.3"}]}\n'
                                                                '  secondary') + "api: {tokens: [{name: al, "
                                                                                    "token_env: AL}]}\n")
    assert changes(old, grown) == ["carriers.primary.trunks", "api.tokens"]
    assert refusals(changes(old, grown)) == [("carriers.primary.trunks", "changed, and the carriers and their "
                                              "trunks are read only at start: restart trunkguard to apply it")]
    many = parse_config(base + "storage: {url: 'sqlite:///b.db'}\ndns: {nameservers: [10.0.0.53]}\n"
                               "replica: {lease_ttl: 20s}\nvantages: {report_every: 1s}\n")
    assert refusals(changes(old, many))[-1] == ("(and)", "1 more read only at start")
