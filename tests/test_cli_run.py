"""`trunkguard run` start-up: what it refuses before it listens, JSON logs, and a clean SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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


def test_missing_secrets_are_named_before_anything_starts(tmp_path: Path) -> None:
    done = _run(_write(tmp_path), {"TG_TEST_ID": "x"})
    assert done.returncode == 2
    assert "api.token_env: environment variable TG_TEST_TOKEN is not set" in done.stderr
    assert "platform.client_secret_env: environment variable TG_TEST_SECRET is not set" in done.stderr
    assert not (tmp_path / "tg.db").exists()  # refused before the store was even created


def test_no_platform_section_is_a_config_error(tmp_path: Path) -> None:
    done = _run(_write(tmp_path, platform=""), {"TG_TEST_TOKEN": "t"})
    assert done.returncode == 2 and "platform: is required to run the daemon" in done.stderr


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        path = _write(tmp_path, api=busy.getsockname()[1])
        done = _run(path, {"TG_TEST_TOKEN": "t", "TG_TEST_ID": "i", "TG_TEST_SECRET": "s"})
    assert done.returncode == 1 and "cannot listen on 127.0.0.1:" in done.stderr


def test_json_logs_and_a_clean_sigterm(tmp_path: Path) -> None:
    path = _write(tmp_path)
    env = {**os.environ, "TG_TEST_TOKEN": "t", "TG_TEST_ID": "i", "TG_TEST_SECRET": "s"}
    process = subprocess.Popen([sys.executable, "-m", "trunkguard", "run", "--config", str(path), "--log-format",
                                "json"], env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    lines: list[dict[str, str]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any("lease term" in e["message"] for e in lines):
        lines.append(json.loads(process.stderr.readline()))
    process.send_signal(signal.SIGTERM)
    rest = process.stderr.read()
    assert process.wait(15) == 0
    assert {"ts", "level", "logger", "message"} <= set(lines[0])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", e["ts"]) for e in lines)  # ISO 8601, UTC
    [took] = [e for e in lines if "lease term" in e["message"]]
    assert took["term"] == 1 and took["level"] == "info" and took["logger"] == "trunkguard"
    assert any(e["message"].startswith("API listening on 127.0.0.1:") for e in lines)
    assert "SIGTERM received: stopping cleanly" in rest
