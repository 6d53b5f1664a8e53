"""The runtime's way to the store: every call on a worker thread with a deadline, so the event loop
never waits on the disk and a hung database is an error, not a stall. The runtime's writes share
one thread (so they stay in order); the API's read-only queries get their own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from trunkguard.store import Store, StoreError

T = TypeVar("T")
STORE_DEADLINE = 5.0


class StoreLink:
    def __init__(self, store: Store, *, name: str = "store", deadline: float = STORE_DEADLINE) -> None:
        self.store = store
        self.deadline = deadline
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)

    async def call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run `fn(*args, **kw)` (a Store method) on the worker; StoreError past the deadline."""
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool, functools.partial(fn, *args, **kw)),
                                          self.deadline)
        except TimeoutError:
            raise StoreError(f"the store did not answer within {self.deadline:g}s") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False)
