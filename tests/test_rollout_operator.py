"""Operator commands during the rollout: read commands never create or migrate a store, a released
lease reads as released, no migration lock file is left beside a SQLite store, observe mode is said
and not waited for, and `trunkguard cycle` needs no API token."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import _postgres_schema, eventually
from trunkguard.api.view import status_json
from trunkguard.app import Service
from trunkguard.cli import app as cli
from trunkguard.config import parse_config
from trunkguard.core.failover import PairSnapshot
from trunkguard.lab.lab import Lab, free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault
from trunkguard.store import Store, StoreError

CONFIG = """carriers:
  primary: {trunk_group_id: tg-a, trunks: [{name: a1, uri: "sip:127.0.0.1:5070"}]}
  secondary: {trunk_group_id: tg-b, trunks: [{name: b1, uri: "sip:127.0.0.1:5072"}]}
storage: {url: "%s"}
api: {listen: "127.0.0.1:1", token_env: null}
"""
READS = (["status"], ["status", "--json"], ["history"], ["history", "--json"], ["replay"])


def _config(folder: Path, url: str) -> Path:
    path = folder / "trunkguard.yaml"
    path.write_text(CONFIG % url)
    return path


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema()


# ---- item 11: read commands never create or migrate a store ------------------------------------------


@pytest.mark.parametrize("where", ["tg.db", "no/such/folder/tg.db"])
def test_read_commands_against_a_missing_sqlite_store_say_so_and_create_nothing(tmp_path: Path, where: str) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path}/{where}")
    before = _tree(tmp_path)
    for args in READS:
        result = CliRunner().invoke(cli, [*args, "--config", str(config)])
        assert result.exit_code == 1, (args, result.output)
        assert f"store sqlite:///{tmp_path}/{where} does not exist" in result.output, (args, result.output)
        assert "sqlalchemy" not in result.output.lower() and "sqlite3" not in result.output, result.output
        assert _tree(tmp_path) == before, args  # no file, no folder, no lock file
    with pytest.raises(StoreError, match="does not exist"):
        Store(f"sqlite:///{tmp_path}/{where}")
    assert _tree(tmp_path) == before


def test_read_commands_against_an_empty_sqlite_file_say_it_has_no_trunkguard_tables(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "other.db").close()  # an existing file, but not a trunkguard store
    config = _config(tmp_path, f"sqlite:///{tmp_path}/other.db")
    for args in READS:
        result = CliRunner().invoke(cli, [*args, "--config", str(config)])
        assert result.exit_code == 1, (args, result.output)
        assert "has no trunkguard tables (is storage.url right?)" in result.output, (args, result.output)
    assert _tree(tmp_path) == {"other.db", "trunkguard.yaml"}


def test_read_commands_against_an_empty_postgres_schema_say_it_has_no_trunkguard_tables(
        tmp_path: Path, postgres_url: str) -> None:
    import sqlalchemy

    config = _config(tmp_path, postgres_url)
    for args in READS:
        result = CliRunner().invoke(cli, [*args, "--config", str(config)])
        assert result.exit_code == 1, (args, result.output)
        assert "has no trunkguard tables (is storage.url right?)" in result.output, (args, result.output)
        assert "sqlalchemy" not in result.output.lower() and "psycopg" not in result.output, result.output
    engine = sqlalchemy.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            assert sqlalchemy.inspect(conn).get_table_names() == []  # nothing created, nothing migrated
    finally:
        engine.dispose()
    Store.open(postgres_url).close()  # once migrated (the daemon's start), the same commands read it
    history = CliRunner().invoke(cli, ["history", "--json", "--config", str(config)])
    assert history.exit_code == 0 and json.loads(history.stdout)["decisions"] == [], history.output


# ---- item 12: a lease released at a clean stop -------------------------------------------------------


def test_after_a_clean_stop_status_shows_the_lease_released_with_no_expiry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tg.db"
    store = Store.open(url)
    term = store.acquire_lease("r1/h/1/x", ttl=10)
    assert term is not None
    store.save(term, 1_700_000_000.0, PairSnapshot(), kind="cycle", sentence="no action: primary carrier healthy")
    store.release_lease("r1/h/1/x", term)  # what a clean stop does
    lease = store.lease()
    assert lease == {"holder": "r1/h/1/x", "term": term, "expires_at": None, "left_s": 0.0, "released": True}
    assert store.acquire_lease("r2/h/2/y", ttl=10) == term + 1  # the next candidate need not wait
    taken = store.lease()
    assert taken is not None and taken["released"] is False and 9 < taken["left_s"] <= 10
    store.release_lease("r2/h/2/y", term + 1)
    store.close()
    config = _config(tmp_path, url)
    result = CliRunner().invoke(cli, ["status", "--json", "--config", str(config)])
    assert result.exit_code == 3, result.output  # 3: the stored view only (no daemon answered)
    shown = json.loads(result.stdout)["lease"]
    assert shown == {"holder": None, "term": 2, "left_s": 0, "released": True}, shown  # as the daemon's status says
    text = CliRunner().invoke(cli, ["status", "--config", str(config)], terminal_width=200)
    assert text.exit_code == 3 and "released by r2/h/2/y (term 2) when it stopped" in text.output, text.output
    assert "1970" not in result.stdout + text.output


# ---- item 14: no migration lock file left beside a SQLite store ---------------------------------------


def test_opening_a_new_sqlite_store_leaves_no_lock_file(tmp_path: Path) -> None:
    Store.open(f"sqlite:///{tmp_path}/new/tg.db").close()
    Store.open(f"sqlite:///{tmp_path}/new/tg.db").close()  # and again, on the migrated file
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["tg.db"]


def test_a_migrator_waiting_on_a_removed_lock_file_takes_the_new_one(tmp_path: Path) -> None:
    """Process B opened the lock file before A removed it: B's lock on the removed file must not let it
    migrate beside C, which locked the new file at the path. Played out by hand in one process."""
    import fcntl
    import threading
    import time

    url = f"sqlite:///{tmp_path}/tg.db"
    lock_path = tmp_path / "tg.db.migrate-lock"
    stale = open(lock_path, "a+b")  # noqa: SIM115 - B's handle, opened before A removes the file
    fcntl.flock(stale, fcntl.LOCK_EX)  # A holds the lock ...
    inside: list[str] = []
    b = Store(url, create=True)

    def migrate_b() -> None:
        with b._migration_lock():
            inside.append("b in")
            time.sleep(0.3)
            inside.append("b out")

    thread = threading.Thread(target=migrate_b)
    thread.start()
    time.sleep(0.2)
    assert inside == []  # B waits on A's lock
    os.unlink(lock_path)  # ... A removes the file while holding it, then lets go
    c = open(lock_path, "a+b")  # noqa: SIM115 - C's new lock file, locked before B wakes
    fcntl.flock(c, fcntl.LOCK_EX)
    fcntl.flock(stale, fcntl.LOCK_UN)
    stale.close()
    time.sleep(0.3)
    assert inside == []  # B locked the removed file: it found out and waits on C's
    inside.append("c done")
    os.unlink(lock_path)
    fcntl.flock(c, fcntl.LOCK_UN)
    c.close()
    thread.join(5)
    assert inside == ["c done", "b in", "b out"] and not lock_path.exists()
    b.close()


# ---- item 9: observe mode ----------------------------------------------------------------------------

TOKEN = "operator-token"


@asynccontextmanager
async def _daemon(tmp: Path, edit: str = "") -> AsyncIterator[tuple[Lab, Service, Path]]:
    """The daemon with its API on the lab; `edit` is put at the top of the policy section."""
    async with running_lab() as lab:
        text = lab.config_text("fast", storage=f"sqlite:///{tmp}/tg.db", api_listen=f"127.0.0.1:{free_tcp_port()}")
        text = text.replace("policy:\n", f"policy:\n{edit}", 1)
        config = tmp / "trunkguard.yaml"
        config.write_text(text)
        service = Service.build(parse_config(text, base_dir=tmp), lab_environment(TOKEN))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        try:
            await eventually(lambda: service.status().leader, "the lease")
            yield lab, service, config
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)


async def _invoke(*args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    env = {"TRUNKGUARD_API_TOKEN": TOKEN, "COLUMNS": "200"}  # rich's width: one line a line
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)
    return result.exit_code, result.output, time.monotonic() - started


async def test_observe_mode_failover_wait_answers_at_once_and_status_says_observe_mode(tmp_path: Path) -> None:
    async with _daemon(tmp_path, "  mode: observe\n") as (lab, service, config):
        code, out, took = await _invoke("failover", "--config", str(config), "--force", "--reason", "drill",
                                        "--wait", "30s")
        assert code == 0, out
        assert took < 10, f"--wait waited out its deadline ({took:.1f}s): {out}"
        assert "observe mode: would swap to the secondary carrier (" in out and "nothing written" in out, out
        code, out, _ = await _invoke("failover", "--config", str(config), "--force", "--reason", "drill",
                                     "--wait", "30s", "--json")
        answer = json.loads(out)
        assert code == 0 and answer["ok"] is True and answer["swap"] is None and answer["mode"] == "observe", out
        assert lab.emulator.writes_applied == 0 and service.status().pair.active == "primary"
        code, out, _ = await _invoke("status", "--config", str(config))
        assert code == 0, out
        assert out.splitlines()[0] == ("Calls go to the primary carrier (tg-primary); observe mode: nothing is "
                                       "written to the platform."), out
        assert status_json(service.status())["headline"]["calls"].endswith("observe mode: nothing is written to the "
                                                                        "platform")
    # stopped cleanly: the stored view says observe mode too, and the lease it gave up as released
    code, out, _ = await _invoke("status", "--config", str(config))
    assert code == 3 and out.splitlines()[0] == "observe mode: nothing is written to the platform (policy.mode in " \
        "this config)", out
    assert "when it stopped: no replica is acting" in out, out
    code, out, _ = await _invoke("status", "--config", str(config), "--json")
    assert code == 3 and json.loads(out)["lease"]["released"] is True, out


async def test_in_act_mode_the_status_header_says_where_calls_go_and_nothing_of_observe_mode(tmp_path: Path) -> None:
    async with _daemon(tmp_path) as (_, _service, config):
        code, out, _ = await _invoke("status", "--config", str(config))
        assert code == 0 and out.splitlines()[0] == "Calls go to the primary carrier (tg-primary).", out
        assert "observe" not in out.lower()


# ---- item 13: trunkguard cycle ----------------------------------------------------------------------


def _lab_config(lab: Lab, tmp: Path, gates: str = "{trunks: true, sweep: true, certs: true, parity: true}") -> Path:
    text = lab.config_text("fast", storage=f"sqlite:///{tmp}/tg.db", api_listen=f"127.0.0.1:{free_tcp_port()}")
    text = text.replace("readiness: {trunks: true, sweep: true, certs: true, parity: true}", f"readiness: {gates}")
    config = tmp / "trunkguard.yaml"
    config.write_text(text)
    return config


async def _cycle(config: Path, *extra: str) -> tuple[int, str]:
    """`trunkguard cycle` with the platform's credentials and no API token in the environment."""
    env: dict[str, str | None] = {**lab_environment("unused"), "TRUNKGUARD_API_TOKEN": None}
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["cycle", "--config", str(config), *extra], env=env)
    return result.exit_code, result.stdout  # the logs go to stderr


async def test_a_cycle_needs_no_api_token_and_rechecks_certificates_and_parity_when_due(tmp_path: Path) -> None:
    async with running_lab() as lab:
        config = _lab_config(lab, tmp_path)
        assert "TRUNKGUARD_API_TOKEN" not in os.environ
        code, out = await _cycle(config, "--json")
        assert code == 0, out  # today: exit 2, "environment variable TRUNKGUARD_API_TOKEN is not set"
        assert json.loads(out)["rechecked"] == ["certs", "parity"]  # never run: due
        store = Store(f"sqlite:///{tmp_path}/tg.db")
        try:
            first = store.latest_checks("secondary")
            assert {"certs", "parity"} <= set(first) and first["parity"]["ok"] is True
            code, out = await _cycle(config, "--json")
            assert code == 0 and json.loads(out)["rechecked"] == [], out  # an hour has not passed: not due
            assert store.latest_checks("secondary")["certs"]["at"] == first["certs"]["at"]
            store.save_check("certs", "secondary", True, time.time() - 3601, "from an hour ago", {"certs": []})
            code, out = await _cycle(config)  # recheck_interval (1h) since the newest certificate check: due
            assert code == 0 and "re-checked (they were due): certs, parity" in out, out
            assert store.latest_checks("secondary")["certs"]["at"] > first["certs"]["at"]
        finally:
            store.close()


async def test_a_first_cycle_rechecks_before_deciding_and_its_failback_hint_says_queue(tmp_path: Path) -> None:
    async with running_lab() as lab:
        config = _lab_config(lab, tmp_path, "{trunks: true, sweep: false, certs: true, parity: true}")
        lab.primary.fault = Fault(down=True)
        code, out = await _cycle(config, "--json")  # certificates and parity never run before this one
        assert code == 10, out
        assert json.loads(out)["outcome"] == "swapped" and lab.routed_to() == "tg-secondary"
        lab.primary.fault = Fault()
        await asyncio.sleep(3.5)  # the fast profile's 3 s cooling period
        code, out = await _cycle(config)
        assert code == 12 and "needs a person's approval" in out, out
        assert "approve the return with `trunkguard failback --queue --reason ...`" in out, out  # no daemon to reach
        code, out = await _cycle(config, "--json")
        assert code == 12 and "failback --queue --reason" in json.loads(out)["hint"], out
