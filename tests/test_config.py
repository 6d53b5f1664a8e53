"""Configuration: the design's example loads as it is; every rule has a bad file and its message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trunkguard.config import Config, load_config, parse_config
from trunkguard.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = Path(__file__).resolve().parent / "configs"
BAD = sorted((CONFIGS / "bad").glob("*.yaml"))


def test_design_example_loads_as_it_is() -> None:
    config = load_config(ROOT / "examples" / "design-example.yaml")
    primary, secondary = config.carriers["primary"], config.carriers["secondary"]
    assert (primary.health.interval, primary.health.timeout, primary.health.down_after) == (15.0, 2.0, 3)
    assert secondary.health.down_after == 2
    assert str(primary.trunks[1].alive_codes) == "200-299,405"
    assert 405 in primary.trunks[1].alive_codes and 404 not in primary.trunks[1].alive_codes
    assert primary.trunks[0].tls is not None and primary.trunks[0].tls.verify is True
    assert primary.trunks[0].tls.ca_file == ROOT / "examples" / "carrier-a-ca.pem"
    assert config.policy.cooling_period == 90.0 and config.policy.failback.sustained_recovery == 300.0
    assert config.platform is not None and config.platform.client_secret_env == "TRUNKGUARD_CLIENT_SECRET"


def test_defaults_are_the_guides() -> None:
    config = load_config(CONFIGS / "minimal.yaml")
    p, s = config.carriers["primary"].health, config.carriers["secondary"].health
    assert (p.interval, p.timeout, p.confirm_interval, p.down_after, p.up_after) == (15.0, 2.0, 0.1, 3, 2)
    assert p.confirm_burst == 5
    assert s.down_after == 2
    assert config.carriers["primary"].media.rtp_timeout == 4.0
    assert config.policy.poll_interval == 10.0 and config.policy.failback.mode == "approval"
    assert config.policy.breaker.max_active_calls == 5
    assert config.platform is None


def test_secondary_keeps_an_explicit_down_after() -> None:
    text = (CONFIGS / "minimal.yaml").read_text().replace(
        "    trunk_group_id: tg-secondary\n", "    trunk_group_id: tg-secondary\n    health: {down_after: 4}\n")
    assert parse_config(text).carriers["secondary"].health.down_after == 4


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_each_broken_rule_is_named_with_its_field(path: Path) -> None:
    expected = path.read_bytes().split(b"\n", 1)[0].decode().removeprefix("# expect: ")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = [f"{field}: {rule}" for field, rule in info.value.problems]
    assert expected in lines, lines


def test_a_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "windows.yaml"
    path.write_text((CONFIGS / "minimal.yaml").read_text(), encoding="utf-16")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [("(file)", "is UTF-16 text: save it as UTF-8")]


def test_a_utf8_byte_order_mark_and_an_unquoted_date_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    text = (CONFIGS / "minimal.yaml").read_text().replace("tg-primary", "2026-12-01")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_config(path).carriers["primary"].trunk_group_id == "2026-12-01"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True,
                          check=False, env={**os.environ, **(env or {})})


def test_cli_config_check_valid_and_invalid() -> None:
    ok = _cli("config", "check", str(ROOT / "examples" / "design-example.yaml"), "--json")
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["ok"] is True and [t["name"] for t in data["trunks"]] == ["primary-1", "primary-2", "secondary-1"]
    assert {"path": "carriers.primary.trunks[0].tls.ca_file",  # warnings name their field, as errors do
            "rule": "carrier-a-ca.pem does not exist (trunk primary-1)"} in [
        {**w, "rule": w["rule"].rsplit("/", 1)[-1]} for w in data["warnings"]]
    bad = _cli("config", "check", str(CONFIGS / "bad" / "timeout_not_shorter_than_interval.yaml"))
    assert bad.returncode == 2
    assert "carriers.primary.health.timeout: must be shorter than interval (5s)" in bad.stderr
    bad_json = _cli("config", "check", str(CONFIGS / "bad" / "inline_secret.yaml"), "--json")
    assert bad_json.returncode == 2
    assert json.loads(bad_json.stdout)["problems"][0]["path"] == "platform.client_secret"
    assert "hunter2" not in bad_json.stdout + bad_json.stderr


def test_cli_config_schema_is_json_schema_for_the_config() -> None:
    result = _cli("config", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "trunkguard configuration"
    assert "carriers" in schema["required"]
    assert schema["additionalProperties"] is False
    assert Config.model_json_schema()["properties"].keys() == schema["properties"].keys()


def test_settings_likely_to_flap_are_warnings_and_errors_with_strict(tmp_path: Path) -> None:
    path = tmp_path / "flappy.yaml"
    path.write_text("""carriers:
  primary:
    trunk_group_id: tg-primary
    health: {down_after: 1}
    trunks: [{name: p1, uri: "sip:127.0.0.1:5070"}]
  secondary:
    trunk_group_id: tg-secondary
    health: {down_after: 5}
    trunks: [{name: s1, uri: "sip:127.0.0.1:5072"}]
policy: {cooling_period: 0s}
""")
    ok = _cli("config", "check", str(path))
    assert ok.returncode == 0, ok.stderr
    assert "warning: carriers.secondary.health.down_after: 5 is not below the primary's 1" in ok.stdout
    assert "warning: policy.cooling_period: 0s" in ok.stdout
    assert "warning: carriers.primary.health.down_after: down after 1" in ok.stdout
    strict = _cli("config", "check", str(path), "--strict", "--json")
    assert strict.returncode == 2
    paths = [p["path"] for p in json.loads(strict.stdout)["problems"]]
    assert paths == ["carriers.secondary.health.down_after", "policy.cooling_period", "carriers.primary.health.down_after",
                     "policy.readiness.parity"]
    plain = _cli("config", "check", str(ROOT / "examples" / "single-trunk.yaml"), "--strict", "--json")
    # the defaults follow the guide: the one thing said is that, with no profiles, parity is not configured
    assert [p["path"] for p in json.loads(plain.stdout)["problems"]] == ["policy.readiness.parity"]


def test_bad_bytes_exit_2_with_one_line_from_config_check_run_and_simulate(tmp_path: Path) -> None:
    """The campaign's tracebacks: a UTF-16 config (config check and run), 5,000-deep nesting, a binary scenario."""
    utf16 = tmp_path / "utf16.yaml"
    utf16.write_text((CONFIGS / "minimal.yaml").read_text(), encoding="utf-16")
    for args in (("config", "check", str(utf16)), ("run", "--config", str(utf16))):
        result = _cli(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        said = f"{utf16} is not valid:\n  (file): " if args[0] == "config" else \
            f"event=config_invalid config={utf16} path=(file) rule=\"is UTF-16 text: save it as UTF-8\" msg=\"{utf16} " \
            "is not valid: (file): "  # `run` says it as its one fatal log line (logfmt here)
        assert f"{said}is UTF-16 text: save it as UTF-8" in result.stderr, result.stderr
    deep = _cli("config", "check", str(CONFIGS / "bad" / "deep_nesting.yaml"))
    assert deep.returncode == 2 and "nested deeper than 64 levels" in deep.stderr and "Traceback" not in deep.stderr
    scenario = tmp_path / "scenario.yaml"
    scenario.write_bytes(bytes(range(256)) * 4)
    sim = _cli("simulate", "--config", str(CONFIGS / "minimal.yaml"), "--scenario", str(scenario))
    assert sim.returncode == 2 and "Traceback" not in sim.stderr, sim.stderr
    assert f"{scenario} is not valid:\n  (file): is not UTF-8 text: byte 0x80 at offset 128 (line 2)" in sim.stderr


def test_a_store_url_with_a_password_is_refused_without_echoing_it() -> None:
    result = _cli("config", "check", str(CONFIGS / "bad" / "storage_mysql.yaml"), "--json")
    assert result.returncode == 2 and "hunter2" not in result.stdout + result.stderr
