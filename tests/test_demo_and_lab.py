"""`make demo` stays true: the drill runs end to end and meets its target; `trunkguard lab` runs
alone, writes a config that loads, and switches faults from another process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_port
from trunkguard.config import load_config
from trunkguard.config_advice import policy_warnings


def test_the_demo_drill_passes_with_one_swap_each_way() -> None:
    done = subprocess.run([sys.executable, "-m", "trunkguard", "demo", "--json"], capture_output=True, text=True,
                          timeout=120)
    result = json.loads(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert result["ok"] is True and 0 < result["cutover_s"] <= 5.0
    assert [s["to"] for s in result["swaps"]] == ["secondary", "primary"]
    assert "nothing moved back without approval" in result["steps"]


def test_a_bad_profile_is_a_usage_error() -> None:
    done = subprocess.run([sys.executable, "-m", "trunkguard", "demo", "--profile", "slow"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2 and "'slow' is not one of 'fast'," in done.stderr  # and 'guide' (the box wraps)


def test_the_lab_runs_alone_and_takes_faults(tmp_path: Path) -> None:
    port, api = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    lab = subprocess.Popen([sys.executable, "-m", "trunkguard", "lab", "--dir", str(tmp_path), "--port", str(port),
                            "--api-port", str(api)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        config = tmp_path / "trunkguard.yaml"
        deadline = time.monotonic() + 20
        while not config.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        loaded = load_config(config)
        assert loaded.platform is not None and loaded.platform.base_url == f"http://127.0.0.1:{port}"
        assert policy_warnings(loaded) == []  # the lab's own config used to warn at every start
        url = f"http://127.0.0.1:{port}"
        fault = subprocess.run([sys.executable, "-m", "trunkguard", "lab", "fault", "carrier-a", "--down", "--url",
                                url, "--json"], capture_output=True, text=True, timeout=30)
        assert fault.returncode == 0 and json.loads(fault.stdout)["fault"] == "down (no answer)"
        wrong = subprocess.run([sys.executable, "-m", "trunkguard", "lab", "fault", "carrier-z", "--heal", "--url",
                                url], capture_output=True, text=True, timeout=30)
        assert wrong.returncode == 1 and "no carrier carrier-z" in wrong.stderr
    finally:
        lab.send_signal(signal.SIGTERM)
        out, _ = lab.communicate(timeout=15)
    assert lab.returncode == 0
    assert "trunkguard lab fault carrier-a --down" in out
