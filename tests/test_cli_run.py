"""`trunkguard run` start-up: what it refuses before it listens (one log line each, JSON with
`--log-format json`), the start-up line, JSON and logfmt logs, and a clean SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trunkguard
from tests.conftest import free_port

CONFIG = """
carriers:
  primary: {{trunk_group_id: tg-a, trunks: [{{name: a1, uri: "sip:127.0.0.1:{sip};transport=udp"}}]}}
  secondary: {{trunk_group_id: tg-b, trunks: [{{name: b1, uri: "sip:127.0.0.2:{sip};transport=udp"}}]}}
{platform}
storage: {{url: "sqlite:///{tmp}/tg.db"}}
api: {{listen: "127.0.0.1:{api}", token_env: TG_TEST_TOKEN}}
"""
PLATFORM = """platform: {kind: emulator, base_url: "http://127.0.0.1:9", rule_id: r1,
           client_id_env: TG_TEST_ID, client_secret_env: TG_TEST_SECRET}"""


def _write(tmp: Path, *, platform: str = PLATFORM, api: int | None = None) -> Path:
    path = tmp / "tg.yaml"
    path.write_text(CONFIG.format(sip=free_port(), tmp=tmp, api=api or free_port(socket.SOCK_STREAM),
                                  platform=platform))
    return path


def _run(path: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TG_TEST_")}
    return subprocess.run([sys.executable, "-m", "trunkguard", "run", "--config", str(path), *extra],
                          env={**clean, **env}, capture_output=True, text=True, timeout=30)


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line as JSON: a line that is not (a bare traceback, a typer message) fails the test."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def _logfmt(line: str) -> dict[str, str]:
    """One logfmt line as its keys and values, in order (values unquoted and unescaped)."""
    return dict(pair.split("=", 1) for pair in shlex.split(line))


def test_missing_secrets_are_named_before_anything_starts(tmp_path: Path) -> None:
    done = _run(_write(tmp_path), {"TG_TEST_ID": "x"})
    assert done.returncode == 2
    assert "api.token_env: environment variable TG_TEST_TOKEN is not set" in done.stderr
    assert "platform.client_secret_env: environment variable TG_TEST_SECRET is not set" in done.stderr
    assert not (tmp_path / "tg.db").exists()  # refused before the store was even created
    as_json = _run(tmp_path / "tg.yaml", {"TG_TEST_ID": "x"}, "--log-format", "json")
    problems = [e for e in _json_lines(as_json.stderr) if e["event"] == "config_invalid"]
    assert as_json.returncode == 2 and {e["level"] for e in problems} == {"critical"}
    assert [e["path"] for e in problems] == ["api.token_env", "platform.client_secret_env"]
    assert all(e["rule"].startswith("environment variable TG_TEST_") for e in problems)
    assert all(e["msg"].endswith(f" is not valid: {e['path']}: {e['rule']}") for e in problems)


def test_no_platform_section_is_a_config_error(tmp_path: Path) -> None:
    done = _run(_write(tmp_path, platform=""), {"TG_TEST_TOKEN": "t"})
    assert done.returncode == 2 and "platform: is required to run the daemon" in done.stderr


def test_no_config_at_all_is_one_json_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRUNKGUARD_CONFIG"}
    if env.get("PYTHONPATH"):  # run from another folder: this checkout's sources, not an installed copy
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in env["PYTHONPATH"].split(os.pathsep))
    done = subprocess.run([sys.executable, "-m", "trunkguard", "run", "--log-format", "json"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=30)
    [line] = _json_lines(done.stderr)
    assert done.returncode == 2 and line["event"] == "config_missing" and line["level"] == "critical"
    assert line["msg"].startswith("no configuration: give --config FILE")


def test_a_port_in_use_is_one_fatal_log_line_in_either_format(tmp_path: Path) -> None:
    env = {"TG_TEST_TOKEN": "t", "TG_TEST_ID": "i", "TG_TEST_SECRET": "s"}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = _write(tmp_path, api=port)
        as_json = _run(path, env, "--log-format", "json")
        as_text = _run(path, env)
    assert as_json.returncode == 1 and as_text.returncode == 1
    lines = _json_lines(as_json.stderr)
    [fatal] = [e for e in lines if e["level"] in ("error", "critical")]
    assert fatal == {"ts": fatal["ts"], "level": "critical", "logger": "trunkguard", "event": "listen_failed",
                     "listen": f"127.0.0.1:{port}", "msg": fatal["msg"]}
    assert fatal["msg"].startswith(f"cannot listen on 127.0.0.1:{port}: ") and "in use" in fatal["msg"]
    assert lines[-1] is fatal  # nothing after it: the process exits
    [text] = [_logfmt(line) for line in as_text.stderr.splitlines() if "event=listen_failed" in line]
    assert text["level"] == "critical" and text["msg"] == fatal["msg"]  # the same clear sentence


def _daemon(path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TG_TEST_TOKEN": "t", "TG_TEST_ID": "i", "TG_TEST_SECRET": "s"}
    return subprocess.Popen([sys.executable, "-m", "trunkguard", "run", "--config", str(path), *extra], env=env,
                            stderr=subprocess.PIPE, text=True)


def _until_leader(process: subprocess.Popen[str], parse: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """The daemon's lines until it takes the lease (or 20 s)."""
    assert process.stderr is not None
    lines: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(e["event"] == "lease_acquired" for e in lines):
        line = process.stderr.readline()
        if line:
            lines.append(parse(line))
    return lines


def test_json_logs_and_a_clean_sigterm(tmp_path: Path) -> None:
    path = _write(tmp_path)
    process = _daemon(path, "--log-format", "json")
    assert process.stderr is not None
    lines = _until_leader(process, json.loads)
    process.send_signal(signal.SIGTERM)
    rest = [json.loads(line) for line in process.stderr.read().splitlines()]
    assert process.wait(15) == 0
    assert all(list(e)[:4] == ["ts", "level", "logger", "event"] and list(e)[-1] == "msg" for e in lines + rest)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", e["ts"]) for e in lines)  # ISO 8601, UTC
    [took] = [e for e in lines if e["event"] == "lease_acquired"]
    assert took["term"] == 1 and took["level"] == "info" and took["logger"] == "trunkguard"
    assert took["msg"] == "acting as leader with lease term 1"
    [listening] = [e for e in lines if e["event"] == "api_listening"]
    assert listening["listen"].startswith("127.0.0.1:") and listening["msg"].startswith("API listening on 127.0.0.1:")
    [stopping] = [e for e in rest if e["event"] == "stopping"]
    assert stopping["signal"] == "SIGTERM" and stopping["msg"] == "SIGTERM received: stopping cleanly"
    assert rest[-1]["event"] == "stopped"


def test_one_start_up_line_names_version_config_trunks_and_store(tmp_path: Path) -> None:
    path = _write(tmp_path)
    process = _daemon(path, "--log-format", "json", "--name", "site-a-1")
    lines = _until_leader(process, json.loads)
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
    [started] = [e for e in lines if e["event"] == "started"]
    assert started["level"] == "info" and started["version"] == trunkguard.__version__
    assert started["config"] == str(path) and started["trunks"] == 2 and started["store"] == "sqlite"
    assert started["mode"] == "daemon" and started["name"] == "site-a-1"
    assert "tg.db" not in json.dumps(started)  # the store's kind, never its URL (a DSN may hold a password)
    assert lines.index(started) < min(i for i, e in enumerate(lines) if e["event"] in ("api_listening",
                                                                                      "lease_acquired"))


def test_text_logs_are_logfmt_with_the_json_keys(tmp_path: Path) -> None:
    path = _write(tmp_path)
    process = _daemon(path)
    lines = _until_leader(process, _logfmt)
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
    assert all(list(e)[:4] == ["ts", "level", "logger", "event"] and list(e)[-1] == "msg" for e in lines)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", e["ts"]) for e in lines)
    [started] = [e for e in lines if e["event"] == "started"]
    assert started["trunks"] == "2" and started["store"] == "sqlite" and started["config"] == str(path)
    [took] = [e for e in lines if e["event"] == "lease_acquired"]
    assert took == {"ts": took["ts"], "level": "info", "logger": "trunkguard", "event": "lease_acquired",
                    "term": "1", "msg": "acting as leader with lease term 1"}
