"""deploy/trunkguard.service: `systemd-analyze verify` accepts it and `systemd-analyze security` rates
its exposure 3.0 or below (offline: systemd need not be running). Skipped only where systemd-analyze
is absent, never under CI=true (scripts/test-deps installs Debian's systemd)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, need_binary
from tests.daemon import Daemon, write_config

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "trunkguard.service"
INSTALLED = "/usr/local/bin/trunkguard"  # where the unit expects the console script (pip install as root)


@pytest.fixture
def unit(tmp_path: Path) -> Path:
    """The unit as shipped, with the console script's path pointed at this environment's (verify checks the
    program exists and is executable); everything else byte for byte."""
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED} run --config /etc/trunkguard/trunkguard.yaml" in text
    here = shutil.which("trunkguard", path=str(Path(sys.executable).parent)) or shutil.which("trunkguard")
    assert here is not None, "the trunkguard console script is installed with the package"
    path = tmp_path / "trunkguard.service"
    path.write_text(text.replace(INSTALLED, here))
    return path


def test_systemd_analyze_verify_accepts_the_unit(unit: Path) -> None:
    analyze = need_binary("systemd-analyze", "systemd", "it checks the shipped unit")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trunkguard.service" not in done.stdout + done.stderr, done.stdout + done.stderr  # no warning about it


def test_systemd_analyze_security_rates_the_unit_3_or_below(unit: Path) -> None:
    analyze = need_binary("systemd-analyze", "systemd", "it rates the shipped unit's hardening")
    done = subprocess.run([analyze, "security", "--offline=true", "--threshold=30", "--no-pager", str(unit)],
                          capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for trunkguard\.service: (\d+\.\d)", done.stdout)
    assert found is not None, done.stdout + done.stderr
    assert float(found.group(1)) <= 3.0, done.stdout
    assert done.returncode == 0, done.stdout + done.stderr  # --threshold is in tenths: over 3.0 fails


def test_the_unit_runs_as_a_notify_service_with_a_watchdog_and_reloads_on_sighup() -> None:
    lines = set(UNIT.read_text().splitlines())
    assert {"Type=notify", "WatchdogSec=30s", "NotifyAccess=main", "ExecReload=/bin/kill -HUP $MAINPID",
            "DynamicUser=yes", "StateDirectory=trunkguard", "UMask=0077", "CapabilityBoundingSet=",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=@system-service",
            "ProtectSystem=strict"} <= lines


def test_the_daemon_does_its_job_under_the_units_system_call_filter(tmp_path: Path) -> None:
    """The unit's SystemCallFilter=, RestrictAddressFamilies= and MemoryDenyWriteExecute=, applied by
    tests/unit_sandbox.py with libseccomp: the daemon serves its API and metrics, probes its trunks over
    UDP, writes its SQLite store and stops cleanly; and the sandbox does refuse what the unit refuses."""
    need_binary("systemd-analyze", "systemd", "it expands the unit's system call groups")
    sandbox = [sys.executable, str(ROOT / "tests" / "unit_sandbox.py"), str(UNIT), sys.executable]
    refused = subprocess.run([*sandbox, "-c", "import os, socket\n"
                              "for call in (lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW),"
                              " lambda: os.chroot('/')):\n"
                              "    try: call()\n"
                              "    except PermissionError: print('refused')\n"],
                             capture_output=True, text=True, timeout=60)
    if refused.returncode == 3 and not IN_CI:
        pytest.skip(f"this machine cannot build the sandbox: {refused.stderr.strip()}")
    assert refused.stdout.split() == ["refused", "refused"], refused.stdout + refused.stderr
    path, port = write_config(tmp_path)
    daemon = Daemon(path, port, wrapper=sandbox[:-1])
    try:
        daemon.wait_for("API listening on")
        assert daemon.get("/healthz").json()["ok"] is True
        assert "process_cpu_seconds_total" in daemon.get("/metrics").text  # /proc as the metrics read it
        daemon.wait_for("trunk a1 is suspect")  # its OPTIONS went out over UDP and were not answered
        assert (tmp_path / "tg.db").stat().st_size > 0
    finally:
        assert daemon.stop() == 0
    assert "SIGTERM received: stopping cleanly" in [e.get("msg") for e in daemon.drain()]
