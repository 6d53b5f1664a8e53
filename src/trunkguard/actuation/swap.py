"""The swap protocol, once, for every platform adapter.

A swap is a plan of stages (`Platform.plan`); each stage's changes are written together and each
write is read back before the next stage starts, so the order the adapter chose (by direction) is
the order the platform sees. For each change:

1. Read the object. A read older than what this process last wrote or saw (`Book`) is stale:
   the newer copy is the base. If the base already shows the change, nothing is written.
2. Write it on that base with the swap's idempotency key.
   - A version conflict (409) re-reads after a backoff with jitter and writes again, up to
     `conflict_retries` times; a re-read that shows the change ends it (someone, or a write whose
     answer was lost, already did it).
   - An answer that never came (a timeout, 5xx to the end of the request's retries) is settled by
     reading until the change shows, for up to `settle` seconds, then written again with the same
     key and the same base: never a second intent.
   - A definite refusal (a 4xx other than 409/429) fails the swap.
3. Read back until the written version (or, unversioned, the written state) shows, with backoff,
   for up to `readback` seconds. The write's own answer is the base for any later write of the
   object. A stale read is never a failure.

Only a refusal or the swap's `deadline` fails it; then the changes already written are put back,
last first, by the same rules. The outcome names every object and where it was left.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from trunkguard.actuation.base import (
    Change,
    ObjectRef,
    Platform,
    PlatformError,
    Refused,
    RoutingState,
    Seen,
    VersionConflict,
)
from trunkguard.errors import LeaseGone


@dataclass(frozen=True)
class SwapRules:
    deadline: float = 40.0        # the whole swap, read-backs included
    readback: float = 10.0        # per write: until it shows
    settle: float = 10.0          # after a write whose answer never came: read until it shows, then write again
    conflict_retries: int = 10
    backoff: float = 0.2          # first pause after a conflict; doubles, with jitter, up to backoff_max
    backoff_max: float = 3.0


@dataclass(frozen=True)
class ObjectResult:
    ref: ObjectRef
    says: str
    state: str                    # "written", "already so", "put back", "left written", "not reached", "failed"
    version: int | None = None
    detail: str = ""

    def sentence(self) -> str:
        version = f" (version {self.version})" if self.version is not None else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.ref.label} {self.state} [{self.says}]{version}{detail}"


@dataclass(frozen=True)
class SwapOutcome:
    ok: bool
    detail: str
    prior: RoutingState | None = None
    after: RoutingState | None = None
    objects: tuple[ObjectResult, ...] = ()
    writes: int = 0               # writes the platform accepted (the plan's, not the undo's)
    undo_writes: int = 0

    @property
    def half_switched(self) -> bool:
        return any(o.state == "left written" for o in self.objects)


class Book:
    """The newest copy of each object this process has written or seen, so a lagging read is never
    taken for the truth. Versioned objects compare versions; an unversioned one written less than
    `trust_after` seconds ago is trusted over a read that disagrees."""

    def __init__(self, trust_after: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: dict[str, tuple[Seen, float]] = {}
        self._trust_after = trust_after
        self._clock = clock

    def fresher(self, read: Seen) -> Seen:
        known = self._seen.get(read.ref.path)
        if known is None:
            return read
        seen, at = known
        if read.version is not None and seen.version is not None:
            return seen if seen.version > read.version else read
        if read.version is None and dict(seen.body) != dict(read.body) and self._clock() - at < self._trust_after:
            return seen
        return read

    def note(self, seen: Seen) -> None:
        known = self._seen.get(seen.ref.path)
        if known is not None and dict(known[0].body) == dict(seen.body) and known[0].version == seen.version:
            return  # the same copy again: it keeps the time it was first noted, so trust runs out
        if known is None or seen.version is None or known[0].version is None or seen.version >= (known[0].version or 0):
            self._seen[seen.ref.path] = (seen, self._clock())


@dataclass
class _Done:
    change: Change
    before: Seen
    after: Seen
    wrote: bool


@dataclass
class _Run:
    platform: Platform
    key: str
    rules: SwapRules
    book: Book
    rng: random.Random
    may_write: Callable[[], bool] | None = None  # asked before every write: False raises LeaseGone
    writes: int = 0
    done: list[_Done] = field(default_factory=list)

    async def read(self, ref: ObjectRef) -> Seen:
        seen = self.book.fresher(await self.platform.read(ref))
        self.book.note(seen)
        return seen

    def pause(self, attempt: int) -> float:
        return float(min(self.rules.backoff_max, self.rules.backoff * 2 ** (attempt - 1)) * (0.5 + self.rng.random()))

    async def apply(self, change: Change) -> _Done:
        before = base = await self.read(change.ref)
        if self.platform.shows(base, change):
            return _Done(change, before, base, wrote=False)
        conflicts = 0
        while True:
            if self.may_write is not None and not self.may_write():
                raise LeaseGone(f"stopped before writing {change.ref.label}: this replica no longer holds the lease")
            try:
                written = await self.platform.write(base, change, self.key)
            except VersionConflict:
                conflicts += 1
                if conflicts > self.rules.conflict_retries:
                    raise Refused(f"{change.ref.label} kept changing under us ({conflicts} version conflicts)") \
                        from None
                await asyncio.sleep(self.pause(conflicts))
                base = await self.read(change.ref)
                if self.platform.shows(base, change):
                    return _Done(change, before, base, wrote=False)
                continue
            except Refused:
                raise
            except PlatformError:
                landed = await self.until_shown(change, None, self.rules.settle)
                if landed is not None:
                    self.writes += 1
                    return _Done(change, before, landed, wrote=True)
                continue  # not visible: the same write again, with the same key and base
            self.writes += 1
            self.book.note(written)
            shown = await self.until_shown(change, written, self.rules.readback)
            if shown is None:
                raise PlatformError(f"{change.ref.label}: written (version {written.version}) but not visible "
                                    f"within {self.rules.readback:g}s")
            return _Done(change, before, written, wrote=True)

    async def until_shown(self, change: Change, written: Seen | None, within: float) -> Seen | None:
        """Read until the write shows: its version (or a later one), or else the wanted state."""
        end = time.monotonic() + within
        attempt = 0
        while True:
            attempt += 1
            try:
                seen = await self.platform.read(change.ref)
            except Refused:
                raise
            except PlatformError:
                seen = None
            if seen is not None:
                if written is not None and written.version is not None and seen.version is not None:
                    if seen.version >= written.version:
                        return written if seen.version == written.version else seen
                elif self.platform.shows(seen, change):
                    self.book.note(seen)
                    return seen
            pause = min(1.0, 0.05 * 2 ** attempt) * (0.5 + self.rng.random())
            if time.monotonic() + pause > end:
                return None
            await asyncio.sleep(pause)


async def carry_out(platform: Platform, target: str, key: str, rules: SwapRules, *,
                    restore: RoutingState | None = None, book: Book | None = None,
                    prior: RoutingState | None = None,
                    on_prior: Callable[[RoutingState], Awaitable[None]] | None = None,
                    rng: random.Random | None = None, may_write: Callable[[], bool] | None = None) -> SwapOutcome:
    """Move routing to `target` by the protocol above. Never raises PlatformError. `prior`: the routing as
    the caller read it just before (else it is read here, and handed to `on_prior`). `may_write` is asked
    before every write (the lease still fresh): once it says no, nothing more is written or undone."""
    run = _Run(platform, key, rules, book or Book(rules.readback), rng or random.Random(), may_write)
    planned: list[Change] = []
    failure = ""
    try:
        async with asyncio.timeout(rules.deadline):
            if prior is None:
                prior = await platform.read_routing()
                if on_prior is not None:
                    await on_prior(prior)
            stages = await platform.plan(target, restore)
            planned = [c for stage in stages for c in stage]
            for stage in stages:
                results = await asyncio.gather(*(run.apply(c) for c in stage), return_exceptions=True)
                run.done.extend(r for r in results if isinstance(r, _Done))
                errors = [r for r in results if isinstance(r, BaseException)]
                if errors:
                    raise errors[0]
    except (PlatformError, TimeoutError) as exc:
        failure = str(exc) or f"no result within the {rules.deadline:g}s swap deadline"
    except LeaseGone as exc:
        objects = tuple(ObjectResult(d.change.ref, d.change.says, "left written" if d.wrote else "already so",
                                     d.after.version, "left to the new leader") for d in run.done)
        return SwapOutcome(False, f"{exc}; the new leader settles this intent by reading", prior, None, objects,
                           run.writes)
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
    if not failure:
        objects = tuple(ObjectResult(d.change.ref, d.change.says, "written" if d.wrote else "already so",
                                     d.after.version) for d in run.done)
        after = RoutingState(prior.rule_id if prior else "", target, _version(run.done, prior),
                             {"objects": {d.change.ref.label: dict(d.after.body) for d in run.done}})
        what = f"{run.writes} written, {len(run.done) - sum(d.wrote for d in run.done)} already so" \
            if run.done else "nothing to change"
        return SwapOutcome(True, f"on {target}: {what}" + (f" ({'; '.join(o.sentence() for o in objects)})"
                                                           if run.writes else ""),
                           prior, after, objects, run.writes)
    return await _put_back(run, planned, failure, prior)


async def _put_back(run: _Run, planned: list[Change], failure: str, prior: RoutingState | None) -> SwapOutcome:
    """Undo what the failed swap wrote, last first, by the same rules, within its own deadline."""
    results: dict[str, ObjectResult] = {}
    written = [d for d in run.done if d.wrote]
    undo_run = _Run(run.platform, f"{run.key}-undo", run.rules, run.book, run.rng)
    try:
        async with asyncio.timeout(run.rules.deadline):
            for d in reversed(written):
                try:
                    back = await undo_run.apply(run.platform.undo(d.before, d.change))
                    results[d.change.ref.path] = ObjectResult(d.change.ref, d.change.says, "put back",
                                                              back.after.version)
                except PlatformError as exc:
                    results[d.change.ref.path] = ObjectResult(d.change.ref, d.change.says, "left written",
                                                              d.after.version, f"putting it back failed: {exc}")
    except TimeoutError:
        pass
    undo_writes = undo_run.writes
    objects = []
    done = {d.change.ref.path: d for d in run.done}
    for change in planned:
        if change.ref.path in results:
            objects.append(results[change.ref.path])
        elif change.ref.path in done:
            d = done[change.ref.path]
            objects.append(ObjectResult(change.ref, change.says, "left written" if d.wrote else "already so",
                                        d.after.version, "" if not d.wrote else "not put back before the deadline"))
        else:
            objects.append(ObjectResult(change.ref, change.says, "not reached"))
    half = any(o.state == "left written" for o in objects)
    where = "; ".join(o.sentence() for o in objects)
    detail = f"{failure}; " + ("THE ROUTING IS PARTLY SWITCHED, check it on the platform: " if half else "") + where \
        if objects else failure
    return SwapOutcome(False, detail, prior, None, tuple(objects), run.writes, undo_writes)


def _version(done: list[_Done], prior: RoutingState | None) -> int:
    versions = [d.after.version for d in done if d.after.version is not None]
    return max(versions) if versions else (prior.version if prior else 0)


async def read_until_settled(platform: Platform, target: str, until: float, rules: SwapRules,
                             clock: Callable[[], float], stop: asyncio.Event,
                             unreachable: Callable[[Exception], None]) -> RoutingState | None:
    """An intent found in flight, settled by reading only: read until the platform routes to `target` or
    the clock passes `until`, and return what it showed (None: stopped first). `unreachable` hears the
    first failed read (it is paged once); reads are retried every 2 s after it, 0.25 s before."""
    alerted = False
    while not stop.is_set():
        try:
            async with asyncio.timeout(rules.deadline):
                routing = await platform.read_routing()
            if routing.trunk_group_id == target or clock() >= until:
                return routing
        except (PlatformError, TimeoutError) as exc:
            if not alerted:
                alerted = True
                unreachable(exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25 if not alerted else 2.0)
    return None


def routing_json(state: RoutingState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"rule_id": state.rule_id, "trunk_group_id": state.trunk_group_id, "version": state.version,
            "raw": dict(state.raw)}


def routing_from_json(data: dict[str, Any] | None) -> RoutingState | None:
    if not data or "trunk_group_id" not in data:
        return None
    return RoutingState(str(data.get("rule_id", "")), str(data["trunk_group_id"]), int(data.get("version", 0)),
                        dict(data.get("raw") or {}))
