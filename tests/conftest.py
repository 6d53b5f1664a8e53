"""Shared fixtures: real SIPp peers on loopback, free ports, generated TLS certificates."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from trunkguard import app as app_module
from trunkguard.lab.certs import CertFiles, make_ca, make_leaf

SIPP_SCENARIOS = Path(__file__).resolve().parent.parent / "src" / "trunkguard" / "lab" / "sipp"
IN_CI = os.environ.get("CI", "").lower() == "true"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1 at the time of asking."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, other) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def need_binary(name: str, package: str, why: str) -> str:
    """The program's path; skipped without it on a laptop, a failure under CI=true (make test installs it)."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is missing under CI=true: make test installs Debian's {package}")
        pytest.skip(f"{name} is not installed (apt-get install {package}); {why}")
    return path


def need_sipp() -> str:
    return need_binary("sipp", "sip-tester", "these tests need a real SIP peer")


@dataclass
class Sipp:
    process: subprocess.Popen[bytes]
    port: int
    transport: str
    log: Path

    @property
    def uri(self) -> str:
        return f"sip:127.0.0.1:{self.port};transport={self.transport}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _wait_ready(port: int, transport: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """SIPp binds its socket a moment after starting: wait until it accepts (TCP) or runs (UDP)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sipp exited with {process.returncode}: {log.read_text()[-500:]}")
        if transport == "tcp":
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    return  # bound by sipp
        time.sleep(0.05)
    raise RuntimeError(f"sipp did not open port {port}")


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A command run in-process (`CliRunner`) sets up trunkguard's log handler on the stream the
    runner captured, which it closes: remove that handler (and the level it set) after each test, so a
    later test's log lines neither hit a closed file nor land in another command's output."""
    import logging

    from trunkguard.logs import HANDLER

    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if h.get_name() == HANDLER]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def sipp_uas(tmp_path: Path) -> Iterator[Callable[..., Sipp]]:
    """Start SIPp as a UAS: `sipp_uas()` runs `-sn uas -aa` (auto-answers OPTIONS with 200, and no
    To-tag); `sipp_uas(scenario="uas_options.xml")` runs a shipped scenario file."""
    binary = need_sipp()
    started: list[Sipp] = []

    def start(transport: str = "udp", scenario: str | None = None, extra: list[str] | None = None,
              port: int | None = None, tries: int = 5) -> Sipp:
        """The media and control ports are picked free just before SIPp starts, and another process (a
        test running beside this one) can take one in between: a start that fails on a bind is tried
        again with new ones (and a new SIP port, unless one was asked for)."""
        for attempt in range(tries):
            sip = port or free_port(socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM)
            log = tmp_path / f"sipp-{sip}.log"
            cmd = [binary]
            cmd += ["-sf", str(SIPP_SCENARIOS / scenario)] if scenario else ["-sn", "uas", "-aa"]
            cmd += ["-i", "127.0.0.1", "-p", str(sip), "-t", "u1" if transport == "udp" else "t1",
                    "-mp", str(free_port()), "-cp", str(free_port()), "-deadcall_wait", "0", "-nostdin",
                    *(extra or [])]
            with log.open("wb") as out:
                process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=out, cwd=tmp_path)
            sipp = Sipp(process, sip, transport, log)
            started.append(sipp)
            try:
                _wait_ready(sip, transport, process, log)
            except RuntimeError:
                if "Address already in use" not in log.read_text() or attempt == tries - 1:
                    raise
                time.sleep(0.2)
                continue
            return sipp
        raise AssertionError("unreachable: the last try raises")

    yield start
    for sipp in started:
        sipp.stop()


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def lab_leaf(tmp_path_factory: pytest.TempPathFactory, lab_ca: CertFiles) -> CertFiles:
    return make_leaf(tmp_path_factory.mktemp("leaf"), lab_ca, names=["127.0.0.1", "sbc.lab.test"])


POSTGRES_URL = os.environ.get("TRUNKGUARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for each test: a SQLite file, or a new schema in PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/trunkguard.db"
        return
    yield from _postgres_schema()


def _postgres_schema() -> Iterator[str]:
    import secrets

    import sqlalchemy

    engine = sqlalchemy.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    schema = f"tg_test_{secrets.token_hex(4)}"
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    except sqlalchemy.exc.OperationalError as exc:
        engine.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable under CI=true: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {str(exc).splitlines()[0]}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


async def eventually(check: Callable[[], object], what: str, *, timeout: float = 20,
                     detail: Callable[[], str] = lambda: "") -> None:
    """Poll `check` every 50 ms until it is true; fail naming `what` (and `detail()`) after `timeout`."""
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}: {detail()}")


@pytest.fixture
def apps(monkeypatch: pytest.MonkeyPatch) -> list[Starlette]:
    """The Starlette app the daemon serves, kept to list its routes (create_api itself runs unchanged)."""
    made: list[Starlette] = []
    real = app_module.create_api

    def keep(*args: Any, **kwargs: Any) -> Starlette:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(app_module, "create_api", keep)
    return made
