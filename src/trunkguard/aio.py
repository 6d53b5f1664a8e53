"""Running coroutines from the CLI: uvloop when it is installed (about 1.5x the stock loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but optional in principle
        return asyncio.run(coro)
    return uvloop.run(coro)
