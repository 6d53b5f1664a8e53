"""How the loop waits: until an event arrives, `stop` is set, or the machine's next wake-up. One future
and one timer: asyncio's cheapest wait, taken twice a probe at 1,000 trunks per carrier."""

from __future__ import annotations

import asyncio


class Waker:
    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        """Cut a sleep short (an event was queued)."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def sleep(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, self.wake)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    async def wake_on(self, stop: asyncio.Event) -> None:
        """Wake the loop when `stop` is set."""
        await stop.wait()
        self.wake()
