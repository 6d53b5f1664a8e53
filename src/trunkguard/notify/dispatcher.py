"""Queued, bounded, retried, never blocking: how notifications leave the runtime.

`post()` only puts the alert on a bounded queue (when it is full the oldest waiting alert is
dropped and counted). A worker task sends each alert to every destination, retrying 429, 5xx and
network errors with backoff (Retry-After honoured) until the alert's deadline; a destination that
fails does not hold up the others. Counters feed the metrics.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
from collections.abc import Sequence

import httpx

from trunkguard.logs import fields
from trunkguard.notify.base import Alert, NotifyError, Sender
from trunkguard.retry import backoff

log = logging.getLogger("trunkguard.notify")


RANK = {"info": 0, "warning": 1, "critical": 2}


def wanted(sender: Sender, alert: Alert) -> bool:
    """Below a destination's min_severity an alert is not sent; an incident's acknowledge and resolve
    always are."""
    return alert.resolves or alert.acknowledges or RANK.get(alert.severity, 2) >= RANK.get(sender.min_severity, 0)


class Dispatcher:
    def __init__(self, senders: Sequence[Sender], *, maxsize: int = 200, deadline: float = 120.0,
                 timeout: float = 10.0, rng: random.Random | None = None) -> None:
        self.senders = list(senders)
        self.deadline = deadline
        self.timeout = timeout
        self._queue: collections.deque[Alert] = collections.deque(maxlen=maxsize)
        self._wake = asyncio.Event()
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self._started = False  # start() was called: a reload that adds destinations starts the worker
        self.sent: collections.Counter[str] = collections.Counter()
        self.failed: collections.Counter[str] = collections.Counter()
        self.dropped = 0
        self.last_error: dict[str, str] = {}

    def start(self) -> None:
        self._started = True
        if self.senders and self._task is None:
            self._http = httpx.AsyncClient(timeout=self.timeout)
            self._task = asyncio.get_running_loop().create_task(self._run(), name="notify")

    def replace(self, senders: Sequence[Sender]) -> None:
        """New destinations (a config reload): alerts still queued go to them; the counters of the
        destinations that stay go on."""
        self.senders = list(senders)
        if self._started:
            self.start()

    def post(self, alert: Alert) -> None:
        """Queue one alert; never waits."""
        if not self.senders:
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(alert)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def counts(self) -> dict[str, object]:
        """What has been delivered, given up on and dropped, per destination: a copy, for status."""
        return {"pending": self.pending, "sent": dict(self.sent), "failed": dict(self.failed), "dropped": self.dropped,
                "destinations": [s.name for s in self.senders]}

    async def drain(self, timeout: float) -> None:
        """Give queued alerts up to `timeout` to leave (at shutdown)."""
        end = asyncio.get_running_loop().time() + timeout
        while self._queue and asyncio.get_running_loop().time() < end:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._http is not None:
            await self._http.aclose()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            alert = self._queue[0]
            await asyncio.gather(*(self._deliver(s, alert) for s in self.senders if wanted(s, alert)))
            if self._queue and self._queue[0] is alert:
                self._queue.popleft()

    async def _deliver(self, sender: Sender, alert: Alert) -> None:
        assert self._http is not None
        loop = asyncio.get_running_loop()
        end = loop.time() + self.deadline
        attempt = 0
        while True:
            attempt += 1
            try:
                await asyncio.wait_for(sender.send(alert, self._http), self.timeout)
                self.sent[sender.name] += 1
                return
            except NotifyError as exc:
                why, retryable, wait = str(exc), exc.retryable, exc.retry_after
            except (httpx.HTTPError, TimeoutError) as exc:
                why, retryable, wait = f"{sender.name}: {type(exc).__name__}: {exc}", True, None
            if wait is None:
                wait = backoff(attempt, self._rng, base=0.5, cap=30.0)
            if not retryable or loop.time() + wait > end:
                self.failed[sender.name] += 1
                self.last_error[sender.name] = why
                log.error("notification %s to %s not delivered after %d attempts: %s", alert.kind, sender.name,
                          attempt, why, extra=fields("notification_failed", kind=alert.kind, sender=sender.name,
                                                     attempts=attempt, error=why))
                return
            await asyncio.sleep(wait)
