"""A store outage (issue 13): PostgreSQL behind a TCP proxy the test cuts and restores. The daemon
keeps probing and paging, says which swap it holds back, acts on nothing while the store is away,
announces the store's return, and then swaps once, routing never undone."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _postgres_schema, eventually
from trunkguard.app import Service
from trunkguard.config import parse_config
from trunkguard.config_checks import run_readiness
from trunkguard.lab.lab import free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault


class PostgresProxy:
    """Forwards 127.0.0.1:<port> to the PostgreSQL at 5432 until `cut()`: then every connection is
    dropped and new ones refused, as when the database host goes away. On threads of its own: the
    store connects from the daemon's event loop thread (Service.build) as well as from its workers."""

    def __init__(self, upstream_port: int) -> None:
        self.port = free_tcp_port()
        self.upstream_port = upstream_port
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            doomed = [*([self._listener] if self._listener else []), *self._sockets]
            self._listener, self._sockets = None, []
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() or recv()
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema()


async def test_a_store_outage_pages_holds_the_swap_back_and_announces_the_return(postgres_url: str,
                                                                                 tmp_path: Path) -> None:
    proxy = PostgresProxy(5432)
    proxy.start()
    url = postgres_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
    paged: list[tuple[str, str]] = []
    async with running_lab() as lab:
        cfg = parse_config(lab.config_text("fast", storage=url, api_listen=f"127.0.0.1:{free_tcp_port()}"))
        await run_readiness(cfg)
        service = Service.build(cfg, lab_environment("t"))

        def seen(kind: str, data: dict[str, Any]) -> None:
            if kind == "notify":
                paged.append((str(data["kind"]), str(data["message"])))

        service.runtime.subscribe(seen)
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))

        def kinds() -> list[str]:
            return [k for k, _ in paged]

        try:
            await eventually(lambda: service.status().leader and all(
                h.state.value == "up" for h in service.status().health.values()), "carriers up")
            proxy.cut()
            lab.primary.fault = Fault(down=True)
            await eventually(lambda: "swap_held_back" in kinds(), "the held-back swap paged", timeout=30,
                             detail=lambda: repr(paged))
            held = next(m for k, m in paged if k == "swap_held_back")
            assert held.startswith("store unreachable for ") and "activating the secondary carrier" in held
            assert held.endswith("swap held back until the store returns")
            assert kinds().index("store_unreachable") < kinds().index("swap_held_back")
            assert not service.status().store_ok
            assert service.status().health["carrier-a-1"].state.value == "down"  # probing went on
            await asyncio.sleep(2)  # more polls: the machine decides again, and nothing is paged twice
            assert lab.routed_to() == "tg-primary" and lab.emulator.writes_applied == 0
            assert kinds().count("store_unreachable") == 1 and kinds().count("swap_held_back") == 1
            proxy.start()
            await eventually(lambda: "store_reachable" in kinds() and service.status().store_ok,
                             "the store's return announced", timeout=30, detail=lambda: repr(paged))
            back = next(m for k, m in paged if k == "store_reachable")
            assert back.startswith("the store answers again after ") and "routing was left as it was" in back
            await eventually(lambda: lab.routed_to() == "tg-secondary", "the swap once the store is back",
                             timeout=30, detail=lambda: service.status().last_sentence)
            await asyncio.sleep(1)
            assert lab.emulator.writes_applied == 1 and service.status().pair.active == "secondary"
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            proxy.cut()


class _Posted:
    def __init__(self) -> None:
        self.alerts: list[Any] = []

    def post(self, alert: Any) -> None:
        self.alerts.append(alert)


def test_a_store_failing_and_recovering_every_poll_is_paged_once_per_ten_minutes() -> None:
    from trunkguard.runtime.alerts import Alerts
    from trunkguard.store import StoreError

    posted, now = _Posted(), [1000.0]
    alerts = Alerts(posted, "trunkguard/tg-primary", lambda: now[0], dict, lambda *_: None)  # type: ignore[arg-type]
    for _ in range(30):  # a broken table behind a healthy lease: fails, then the renewal succeeds, every 10 s
        alerts.store_trouble(StoreError("no such table: intents"), "storing an intent")
        alerts.held_back("activating the secondary carrier: ...")
        now[0] += 5
        alerts.store_fine()
        now[0] += 5
    kinds = [(a.kind, a.dedup_key) for a in posted.alerts]
    assert kinds[:3] == [("store_unreachable", "trunkguard/tg-primary/store"),
                         ("swap_held_back", "trunkguard/tg-primary"),
                         ("store_reachable", "trunkguard/tg-primary/store")]
    assert [k for k, _ in kinds].count("store_unreachable") == 1  # 300 s of flapping: within one re-page window
    assert [k for k, _ in kinds].count("store_reachable") == 1  # a return is announced only for a paged outage
    assert [k for k, _ in kinds].count("swap_held_back") == 1
    now[0] += 600
    alerts.store_trouble(StoreError("down"), "x")
    assert posted.alerts[-1].kind == "store_unreachable" and not alerts.store_healthy()
