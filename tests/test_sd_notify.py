"""systemd's notification protocol, on real AF_UNIX datagram sockets: READY=1 once the API listens,
WATCHDOG=1 from the loop at half the watchdog interval, STOPPING=1 at stop; '@' names the abstract
namespace; nothing is sent outside systemd."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import time
from pathlib import Path

from tests.daemon import Daemon, write_config
from trunkguard.sdnotify import Notifier


def _receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(0.2)
    return sock


def _drain(sock: socket.socket, until: float) -> list[tuple[float, str]]:
    got = []
    while time.monotonic() < until:
        with contextlib.suppress(TimeoutError):
            got.append((time.monotonic(), sock.recv(4096).decode()))
    return got


def test_the_abstract_namespace_and_the_pace_of_pings() -> None:
    name = f"tg-test-{os.getpid()}-{time.monotonic_ns()}"
    with _receiver("\0" + name) as sock:
        now = [100.0]
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "4000000"}, clock=lambda: now[0])
        assert notifier.watchdog_every == 2.0  # half of WatchdogSec
        notifier.ready()
        assert sock.recv(4096) == b"READY=1\nSTATUS=running"
        notifier.beat()
        now[0] += 1.9
        notifier.beat()  # not yet due: nothing sent
        now[0] += 0.1
        notifier.beat()
        notifier.stopping()
        assert [sock.recv(4096) for _ in range(3)] == [b"WATCHDOG=1", b"WATCHDOG=1", b"STOPPING=1\nSTATUS=stopping"]
        notifier.close()


def test_nothing_is_sent_outside_systemd_nor_for_another_process_watchdog() -> None:
    assert not Notifier({}).enabled and not Notifier({}).send("READY=1")
    assert Notifier({"NOTIFY_SOCKET": "relative/path"}).enabled is False  # only a path or '@name'
    other = Notifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, pid=2)
    assert other.enabled and other.watchdog_every is None
    assert Notifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "2"},
                    pid=2).watchdog_every == 0.5


def test_the_daemon_is_ready_once_its_api_listens_and_pings_from_its_loop(tmp_path: Path) -> None:
    path, port = write_config(tmp_path)
    address = str(tmp_path / "notify.sock")
    with _receiver(address) as sock:
        daemon = Daemon(path, port, {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
        try:
            messages: list[tuple[float, str]] = []
            end = time.monotonic() + 20
            while time.monotonic() < end and not any("READY=1" in m for _, m in messages):
                messages += _drain(sock, time.monotonic() + 0.2)
            [ready] = [at for at, m in messages if "READY=1" in m]
            # READY=1 is sent after the listening socket accepts: a connection made now is answered
            assert daemon.get("/healthz").json()["ok"] is True
            pings = [at for at, m in messages + _drain(sock, time.monotonic() + 3.0) if m == "WATCHDOG=1"]
            pings = [at for at in pings if at >= ready]
            # WatchdogSec=1s: a ping every 0.5 s from the loop's turns, never a gap near the watchdog's second
            assert len(pings) >= 5, pings
            gaps = [b - a for a, b in itertools.pairwise(pings)]
            assert max(gaps) < 0.9 and min(gaps) > 0.4, gaps
            daemon.signal(signal.SIGTERM)
            rest = [m for _, m in _drain(sock, time.monotonic() + 1.0)]
            assert "STOPPING=1\nSTATUS=stopping" in rest
        finally:
            assert daemon.stop() == 0
