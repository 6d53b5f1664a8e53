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

from tests.conftest import need_binary

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
