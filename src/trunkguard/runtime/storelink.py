"""The runtime's way to the store: every call on a worker thread with a deadline, so the event loop
never waits on the disk and a hung database is an error, not a stall. The runtime's writes share
one thread (so they stay in order); the API's read-only queries get their own.

A link is typed by the store protocol its part needs (`StoreLink[IntentStore]` for the actuator,
...); one link object serves them all. It reports the store's health itself: every call that
fails tells `health` what was not done, every call that succeeds tells it the store answers, so no
part pages a store outage or its end by hand.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from trunkguard.errors import StoreError

T = TypeVar("T")
S_co = TypeVar("S_co", covariant=True)
STORE_DEADLINE = 5.0


class StoreHealth(Protocol):
    def store_trouble(self, exc: StoreError, what: str) -> None: ...

    def store_fine(self) -> None: ...


class _Quiet:
    def store_trouble(self, exc: StoreError, what: str) -> None:
        pass

    def store_fine(self) -> None:
        pass


class StoreLink(Generic[S_co]):
    def __init__(self, store: S_co, *, name: str = "store", deadline: float = STORE_DEADLINE,
                 health: StoreHealth | None = None) -> None:
        self._store = store
        self.deadline = deadline
        self.health: StoreHealth = health or _Quiet()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)

    @property
    def store(self) -> S_co:
        return self._store

    async def call(self, fn: Callable[..., T], *args: Any, doing: str = "a store call", **kw: Any) -> T:
        """Run `fn(*args, **kw)` (a store method) on the worker. StoreError when it fails or passes the
        deadline, after telling `health` that `doing` was not done."""
        return await self.submit(fn, *args, doing=doing, **kw)

    def submit(self, fn: Callable[..., T], *args: Any, doing: str = "a store call",
               **kw: Any) -> Awaitable[T]:
        """`call`, with the job queued on the worker now, before anything queued after it: for a write
        that must land before the recorder's next batch. Await the result for the outcome."""
        queued = asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kw))
        return self._outcome(queued, doing)

    async def _outcome(self, queued: asyncio.Future[T], doing: str) -> T:
        try:
            result = await asyncio.wait_for(queued, self.deadline)
        except TimeoutError:
            exc = StoreError(f"the store did not answer within {self.deadline:g}s")
            self.health.store_trouble(exc, doing)
            raise exc from None
        except StoreError as exc:
            self.health.store_trouble(exc, doing)
            raise
        self.health.store_fine()
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=False)
