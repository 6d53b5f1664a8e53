"""Secrets from files: each `*_env` key has a `*_file` sibling (one of the two), a relative path is read
from $CREDENTIALS_DIRECTORY (systemd's LoadCredential=) when set, else beside the config file; a
missing, empty or odd file is named with its key and path, never its content; `config check --env`
reads the files too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trunkguard.app import api_tokens, platform_from_config, senders_from_config
from trunkguard.cli import app
from trunkguard.config import load_config, parse_config
from trunkguard.credentials import Secrets
from trunkguard.errors import ConfigError

CARRIERS = """
carriers:
  primary: {trunk_group_id: tg-a, trunks: [{name: a1, uri: "sip:127.0.0.1:5070"}]}
  secondary: {trunk_group_id: tg-b, trunks: [{name: b1, uri: "sip:127.0.0.2:5070"}]}
"""


def test_a_file_secret_is_read_with_its_final_newline_dropped(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret-token\n")
    (tmp_path / "crlf").write_bytes(b"key-2\r\n")
    secrets = Secrets({}, base_dir=tmp_path)
    assert secrets.get("api.token_env", None, file=tmp_path / "token") == "s3cret-token"
    assert secrets.get("api.read_token_env", None, file=Path("crlf")) == "key-2"  # beside the config
    secrets.check()


def test_a_relative_file_is_read_from_the_credentials_directory_when_systemd_sets_it(tmp_path: Path) -> None:
    creds, beside = tmp_path / "credentials", tmp_path / "etc"
    creds.mkdir()
    beside.mkdir()
    (creds / "api-token").write_text("from-systemd")
    (beside / "api-token").write_text("from-etc")
    assert Secrets({"CREDENTIALS_DIRECTORY": str(creds)}, base_dir=beside).get(
        "api.token_env", None, file=Path("api-token")) == "from-systemd"
    assert Secrets({}, base_dir=beside).get("api.token_env", None, file=Path("api-token")) == "from-etc"
    # an absolute path is taken as written, credentials directory or not
    assert Secrets({"CREDENTIALS_DIRECTORY": str(creds)}).get(
        "api.token_env", None, file=beside / "api-token") == "from-etc"


def test_a_missing_empty_or_odd_file_is_named_with_its_key_and_path_never_its_content(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "big").write_text("x" * 70_000)
    (tmp_path / "latin1").write_bytes(b"caf\xe9-hunter2")
    secrets = Secrets({"CREDENTIALS_DIRECTORY": str(creds)})
    for field, path in (("platform.client_secret_env", Path("client-secret")),
                        ("api.token_env", tmp_path / "empty"), ("api.read_token_env", tmp_path),
                        ("notify[0].routing_key_env", tmp_path / "big"),
                        ("notify[1].url_env", tmp_path / "latin1")):
        assert secrets.get(field, None, file=path) is None
    with pytest.raises(ConfigError) as info:
        secrets.check()
    assert info.value.problems == [
        ("platform.client_secret_file", f"{creds}/client-secret does not exist (relative paths are read from "
                                        "$CREDENTIALS_DIRECTORY, set by systemd's LoadCredential=)"),
        ("api.token_file", f"{tmp_path}/empty is empty"),
        ("api.read_token_file", f"{tmp_path} is not a regular file"),
        ("notify[0].routing_key_file", f"{tmp_path}/big is larger than 64 KiB: a secret file holds the secret "
                                       "alone"),
        ("notify[1].url_file", f"{tmp_path}/latin1 is not UTF-8 text")]
    assert "hunter2" not in str(info.value) and "xxxx" not in str(info.value)


def test_a_file_that_cannot_be_read_is_named_with_the_reason() -> None:
    """/proc/self/mem stats as a regular file and refuses read(2) with EIO, for root too."""
    secrets = Secrets({})
    assert secrets.get("api.token_env", None, file=Path("/proc/self/mem")) is None
    assert secrets.problems == [("api.token_file", "cannot read /proc/self/mem: Input/output error")]


def test_the_daemon_reads_every_kind_of_secret_from_files(tmp_path: Path) -> None:
    for name, value in (("op", "operator-token"), ("alice", "alice-token"), ("id", "client-id"),
                        ("secret", "client-secret"), ("pd", "pd-key")):
        (tmp_path / name).write_text(value + "\n")
    path = tmp_path / "tg.yaml"
    path.write_text(CARRIERS + """
platform: {kind: generic, base_url: "http://127.0.0.1:9", rule_id: r1, client_id_file: id, client_secret_file: secret}
api: {token_file: op, tokens: [{name: alice, token_file: alice, role: reader}]}
notify: [{kind: pagerduty, routing_key_file: pd}]
""")
    config = load_config(path)
    assert config.api.token_env is None  # token_file replaces the default TRUNKGUARD_API_TOKEN
    tokens = api_tokens(config, {})
    assert tokens.operator == "operator-token" and tokens.named[0].token == "alice-token"
    [sender] = senders_from_config(config.notify, {}, config.source_dir)
    assert sender.name == "pagerduty"
    platform = platform_from_config(config, {})
    assert platform is not None


def test_cxone_takes_its_access_keys_from_files_and_needs_one_source_each() -> None:
    base = CARRIERS + 'platform: {kind: cxone, base_url: "http://127.0.0.1:9", point_of_contact_id: p1, %s}\n'
    config = parse_config(base % "access_key_id_file: /run/credentials/tg/id, access_key_secret_env: KEY_SECRET")
    assert config.platform is not None and config.platform.secret("access_key_id") == (None,
                                                                                      Path("/run/credentials/tg/id"))
    with pytest.raises(ConfigError) as info:
        parse_config(base % "access_key_id_env: KEY_ID")
    assert info.value.problems == [("platform.access_key_secret_env",
                                    "is required for kind cxone (or access_key_secret_file)")]


def test_an_api_off_loopback_accepts_its_tokens_from_files() -> None:
    config = parse_config(CARRIERS + """
api: {listen: "0.0.0.0:8443", token_file: op, read_token_file: reader,
      tls: {cert_file: /etc/tg/api.pem, key_file: /etc/tg/api.key}}
""")
    assert config.api.secret("read_token") == (None, Path("reader"))


def test_config_check_env_reads_the_secret_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    path = tmp_path / "tg.yaml"
    path.write_text(CARRIERS + "api: {token_file: api-token, read_token_env: TG_READ}\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("TG_READ", "reader")
    missing = CliRunner().invoke(app, ["config", "check", str(path), "--env", "--json"])
    assert missing.exit_code == 2
    assert json.loads(missing.stdout)["problems"] == [
        {"path": "api.token_file", "rule": f"{creds}/api-token does not exist (relative paths are read from "
                                           "$CREDENTIALS_DIRECTORY, set by systemd's LoadCredential=)"}]
    (creds / "api-token").write_text("hunter2\n")
    found = CliRunner().invoke(app, ["config", "check", str(path), "--env", "--json"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["secrets"] == [
        {"path": "api.token_file", "file": f"{creds}/api-token", "readable": True},
        {"path": "api.read_token_env", "variable": "TG_READ", "set": True}]
    text = CliRunner().invoke(app, ["config", "check", str(path), "--env"]).output
    assert f"secret files: each is there and readable ({creds}/api-token)" in text and "hunter2" not in text
