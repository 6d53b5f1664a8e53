"""SIGKILL while a slow platform write is in flight (bench/kill.py, a few runs here; the bench
runs 50): the restart settles the intent by reading, and every run ends with one applied write,
recorded against the key the platform received."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.kill import kill_run

from tests.conftest import need_sipp

pytestmark = [pytest.mark.sipp, pytest.mark.slow]


@pytest.mark.parametrize("seed", [3, 11, 20])
async def test_a_sigkill_during_a_slow_write_leaves_one_write_and_an_audit_naming_its_key(tmp_path: Path,
                                                                                         seed: int) -> None:
    need_sipp()
    run = await kill_run(tmp_path, seed, latency=2.0)
    assert run.ok, (run.why, run.moment, run.intents, run.applied_keys)
    [key] = run.applied_keys
    wrote = [i for i in run.intents if i["key"] == key]
    assert wrote and wrote[0]["status"] in ("applied", "reconciled")
    assert all(i["status"] in ("abandoned", "failed") for i in run.intents if i["key"] != key)
