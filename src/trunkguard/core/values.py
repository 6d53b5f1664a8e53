"""Immutable values made cheap to change on the fold's hot path.

`evolve`: a frozen dataclass with some fields changed, without re-running `__init__`.

`dataclasses.replace` introspects the fields and calls `__init__` on every call, about 30 µs for
the machine's state; the fold does it several times per probe result, a hundred times a second
at a thousand trunks per carrier. This copies the instance's `__dict__` instead (about 1 µs).
Only for frozen dataclasses without `__slots__`, `__post_init__` or init-only fields, which is
what the core's values are; the frozen guarantee to callers is unchanged.

`Row`: an immutable sequence whose one-item change copies a chunk of 64 items and the list of
chunks, not the whole. The machine keeps a health and a probe plan per trunk and changes one or
two of them per probe result: with 2,000 trunks a tuple copied 2,000 pointers three times per
probe (measured: the fold went from 58 to 50-55 µs a probe at 2,000 trunks with this). A
persistent vector library such as pyrsistent would do, but the core imports only the standard
library; this is the 50 lines it needs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, overload

T = TypeVar("T")
_BITS = 6
_SIZE = 1 << _BITS
_MASK = _SIZE - 1


def evolve(obj: T, **changes: Any) -> T:
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new


class Row(Sequence[T]):
    """An immutable sequence with cheap `set` and `update` (see the module's note). Equal to another
    Row or a tuple with the same items; hashable when its items are."""

    __slots__ = ("_chunks", "_len")

    def __init__(self, items: Iterable[T] = ()) -> None:
        flat = tuple(items)
        self._chunks: tuple[tuple[T, ...], ...] = tuple(flat[k:k + _SIZE] for k in range(0, len(flat), _SIZE))
        self._len = len(flat)

    @classmethod
    def _of(cls, chunks: tuple[tuple[T, ...], ...], length: int) -> Row[T]:
        row: Row[T] = object.__new__(cls)
        row._chunks, row._len = chunks, length
        return row

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[T, ...]: ...

    def __getitem__(self, i: int | slice) -> T | tuple[T, ...]:
        if isinstance(i, slice):
            return tuple(self)[i]
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError("Row index out of range")
        return self._chunks[i >> _BITS][i & _MASK]

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[T]:
        return itertools.chain.from_iterable(self._chunks)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self._chunks == other._chunks
        if isinstance(other, tuple):
            return self._len == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))  # equal to the tuple of its items, so hashed alike

    def __repr__(self) -> str:
        return f"Row({list(self)!r})"

    def set(self, i: int, value: T) -> Row[T]:
        """This row with item `i` replaced."""
        if not 0 <= i < self._len:
            raise IndexError("Row index out of range")
        c, j = i >> _BITS, i & _MASK
        chunk = self._chunks[c]
        chunk = chunk[:j] + (value,) + chunk[j + 1:]  # noqa: RUF005 - slices joined in C
        return Row._of(self._chunks[:c] + (chunk,) + self._chunks[c + 1:], self._len)  # noqa: RUF005

    def update(self, changes: Mapping[int, T]) -> Row[T]:
        """This row with several items replaced (index -> value)."""
        if len(changes) == 1:
            (i, value), = changes.items()
            return self.set(i, value)
        chunks = list(self._chunks)
        touched: dict[int, list[T]] = {}
        for i, value in changes.items():
            if not 0 <= i < self._len:
                raise IndexError("Row index out of range")
            c = i >> _BITS
            if c not in touched:
                touched[c] = list(chunks[c])
            touched[c][i & _MASK] = value
        for c, items in touched.items():
            chunks[c] = tuple(items)
        return Row._of(tuple(chunks), self._len)
