"""The latest result of each readiness check (DID sweep, certificates, parity), kept as JSON files
beside the store so the daemon's readiness gates can read what the commands found.

The folder is the SQLite database's folder for a `sqlite:///` storage URL, else `trunkguard-state`
in the working directory; `TRUNKGUARD_STATE_DIR` overrides both.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from trunkguard.config import Config
from trunkguard.core.failover import Readiness

CHECKS = ("sweep", "certs", "parity")


def state_dir(config: Config) -> Path:
    override = os.environ.get("TRUNKGUARD_STATE_DIR")
    if override:
        return Path(override)
    url = config.storage.url
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).parent
    return Path("trunkguard-state")


def save_check(config: Config, check: str, ok: bool, data: dict[str, Any]) -> Path:
    """Write a check's outcome atomically (a crash leaves the old file or the new one, never half)."""
    folder = state_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"check-{check}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"check": check, "ok": ok, "at": time.time(), "result": data}, indent=2))
    tmp.replace(path)
    return path


def load_check(config: Config, check: str) -> dict[str, Any] | None:
    path = state_dir(config) / f"check-{check}.json"
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def readiness(config: Config) -> Readiness:
    """The readiness gates' observations from the latest stored results (None: never run)."""
    values = {}
    for check in CHECKS:
        stored = load_check(config, check)
        values[check] = bool(stored["ok"]) if stored is not None else None
    return Readiness(sweep_ok=values["sweep"], certs_ok=values["certs"], parity_ok=values["parity"])
