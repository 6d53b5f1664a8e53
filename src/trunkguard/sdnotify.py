"""systemd's service notification protocol (sd_notify(3)) for `Type=notify` with `WatchdogSec=`:
READY=1 once the API listens, WATCHDOG=1 while the loop turns, RELOADING=1 and READY=1 around a
SIGHUP reload, STOPPING=1 when a stop begins. Outside systemd ($NOTIFY_SOCKET unset) nothing is sent.

Written here, not taken from PyPI (looked at in 2026-11): sdnotify 0.3.2 has had no release since
2017; systemd-watchdog 1.0.1 paces its pings by the wall clock, so a clock stepped back (NTP) stops
them until it catches up and systemd kills a healthy daemon, and it sends on a blocking socket;
systemd-python and cysystemd build against libsystemd's headers. The protocol itself is one
datagram of newline-separated KEY=VALUE lines to the AF_UNIX socket $NOTIFY_SOCKET names (a path,
or '@' and a name in the abstract namespace): the few lines below. The socket is non-blocking: a
datagram systemd's full queue cannot take is dropped (logged at debug), never waited for. Pings are
paced by the monotonic clock. `$WATCHDOG_USEC` is honoured only when `$WATCHDOG_PID` is unset or
names this process (sd_watchdog_enabled(3)).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

from trunkguard.logs import fields

log = logging.getLogger("trunkguard")


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None, *, pid: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address if address.startswith("/") else ""
        self.watchdog_every: float | None = None  # seconds between WATCHDOG=1: half of WatchdogSec
        usec, owner = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if self.address and usec.isdigit() and int(usec) > 0 and owner in ("", str(pid or os.getpid())):
            self.watchdog_every = int(usec) / 2e6
        self._clock = clock
        self._last_ping = float("-inf")
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> bool:
        """One datagram of `lines`; False when not under systemd or when it could not be sent."""
        if not self.address:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            log.debug("sd_notify %s not sent: %s", lines[0], exc,
                      extra=fields("sd_notify_failed", notice=lines[0], error=str(exc)))
            return False
        return True

    def ready(self) -> None:
        self.send("READY=1", "STATUS=running")

    def reloading(self) -> None:
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    def beat(self) -> None:
        """WATCHDOG=1 when half of WatchdogSec has passed since the last one (call it from the loop's turns)."""
        now = self._clock()
        if self.watchdog_every is not None and now - self._last_ping >= self.watchdog_every:
            self._last_ping = now
            self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
