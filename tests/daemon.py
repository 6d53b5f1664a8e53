"""A real `trunkguard run` process for tests: its JSON log lines gathered as they come, its API port known."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

CONFIG = """
carriers:
  primary: {{trunk_group_id: tg-a, trunks: [{{name: a1, uri: "sip:127.0.0.1:{sip};transport=udp"}}]}}
  secondary: {{trunk_group_id: tg-b, trunks: [{{name: b1, uri: "sip:127.0.0.2:{sip};transport=udp"}}]}}
platform: {{kind: emulator, base_url: "http://127.0.0.1:9", rule_id: r1, client_id_env: TG_TEST_ID,
           client_secret_env: TG_TEST_SECRET}}
storage: {{url: "sqlite:///{tmp}/tg.db"}}
api: {{listen: "127.0.0.1:{api}", {api_extra}}}
{extra}
"""


def write_config(tmp: Path, *, api_extra: str = "token_env: TG_TEST_TOKEN", extra: str = "") -> tuple[Path, int]:
    """A config for the daemon (its carriers never answer; its platform is unreachable) and its API port."""
    port = free_port(socket.SOCK_STREAM)
    path = tmp / "tg.yaml"
    path.write_text(CONFIG.format(sip=free_port(), tmp=tmp, api=port, api_extra=api_extra, extra=extra))
    return path, port


class Daemon:
    def __init__(self, config: Path, port: int, env: dict[str, str] | None = None, *,
                 wrapper: list[str] | None = None) -> None:
        """`wrapper`: a command the daemon's is appended to (a sandbox)."""
        self.port = port
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("TG_TEST_", "NOTIFY_", "WATCHDOG_"))}
        self.process = subprocess.Popen(
            [*(wrapper or []), sys.executable, "-m", "trunkguard", "run", "--config", str(config), "--log-format", "json"],
            env={**clean, "TG_TEST_TOKEN": "t", "TG_TEST_ID": "i", "TG_TEST_SECRET": "s", **(env or {})},
            stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self.lines.put({"msg": line.rstrip(), "level": "raw"})

    def wait_for(self, text: str, timeout: float = 20.0) -> dict[str, Any]:
        """The first log line (from now on) whose message contains `text`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line.get("msg", ""):
                return line
        raise AssertionError(f"no log line with {text!r} within {timeout}s; saw: "
                             f"{[e.get('msg') for e in self.seen[-20:]]}")

    def drain(self, timeout: float = 2.0) -> list[dict[str, Any]]:
        """The log lines still to come, until none arrives for `timeout` seconds."""
        rest = []
        while True:
            try:
                rest.append(self.lines.get(timeout=timeout))
            except queue.Empty:
                return rest

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", headers=headers, timeout=5)

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)
