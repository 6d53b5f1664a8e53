"""A clock that moves only when told (every runtime part takes `clock: Callable[[], float]`), and a
lease held by hand."""

from __future__ import annotations

from trunkguard.runtime.lease import Term


class ManualClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class HeldLease:
    """The lease as a part sees it (`runtime.lease.LeaseView`), set by hand: held with `term`, or not
    (None); `fresh` False makes a part behave as near expiry."""

    def __init__(self, term: int | None = 1, *, fresh: bool = True) -> None:
        self.term = term
        self.is_fresh = fresh

    def current(self) -> Term:
        return Term(self.term, float("inf") if self.term is not None else 0.0)

    def fresh(self, now: float) -> bool:
        return self.term is not None and self.is_fresh
