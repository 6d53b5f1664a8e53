"""The runtime's parts alone, on the shipped fakes (trunkguard.testing): no daemon, no database, no
sleeps standing in for "long enough". Each test says what one part guarantees."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from trunkguard.actuation.swap import SwapRules
from trunkguard.core.failover import Notify, PairSnapshot, PairState, Swap
from trunkguard.core.machine import CallsRead, ChecksRead, Event, LeaseChanged, StartSwap, SwapSettled
from trunkguard.errors import LeaseLost, StoreError
from trunkguard.notify import Dispatcher
from trunkguard.readiness import CheckResult
from trunkguard.runtime.actuator import Actuator
from trunkguard.runtime.alerts import Alerts
from trunkguard.runtime.lease import Identity, LeaseKeeper
from trunkguard.runtime.pollers import Pollers, PollRules, Rechecks
from trunkguard.runtime.recorder import Recorder
from trunkguard.runtime.routing import RoutingWatch
from trunkguard.runtime.storelink import StoreLink
from trunkguard.store import Batch, IntentStatus
from trunkguard.testing import HeldLease, ManualClock, MemoryPlatform, MemoryStore

GROUPS = {"primary": "tg-primary", "secondary": "tg-secondary"}


class Parts:
    """An actuator with its recorder, a store and a platform in memory, and what it posts and pages."""

    def __init__(self, *, term: int | None = 1, fresh: bool = True) -> None:
        self.clock = ManualClock()
        self.store = MemoryStore(clock=self.clock)
        if term is not None:
            self.store.take_over("me")
        self.platform = MemoryPlatform()
        self.lease = HeldLease(term, fresh=fresh)
        self.pages: list[Notify] = []
        self.posted: asyncio.Queue[Event] = asyncio.Queue()
        self.alerts = Alerts(Dispatcher([]), "trunkguard/tg-primary", self.clock, dict, lambda *_: None)
        self.alerts.notify = lambda notify, **_: self.pages.append(notify)  # type: ignore[method-assign]
        self.link = StoreLink(self.store, health=self.alerts)
        self.recorder = Recorder(self.link, self.lease, self.clock, retention=3600)
        self.actuator = Actuator(self.platform, self.link, self.lease, self.recorder, self.alerts,
                                 self.posted.put_nowait, self.clock, GROUPS, SwapRules(deadline=5, readback=1),
                                 lambda *_: None)

    def hold_reads(self) -> asyncio.Event:
        """The platform's routing reads wait until the returned event is set."""
        gate = asyncio.Event()
        read = self.platform.read_routing

        async def held() -> Any:
            await gate.wait()
            return await read()

        self.platform.read_routing = held  # type: ignore[method-assign]
        return gate

    async def swap(self, to: str = "secondary") -> SwapSettled:
        swap = Swap(to, "automatic", "primary down", f"swap-t-1-to-{to}", self.clock())
        snapshot = replace(PairSnapshot(), state=PairState.ACTIVATING, in_flight=swap, swaps=1)
        self.recorder.decision(self.clock(), "trunk", "trunk p1 is down", PairSnapshot(), {})
        self.actuator.start(StartSwap(swap, snapshot, "activating the secondary carrier"), {"why": "test"})
        settled = await asyncio.wait_for(self.posted.get(), 5)
        assert isinstance(settled, SwapSettled)
        return settled


async def test_a_swap_writes_to_the_store_twice() -> None:
    """The intent (with the routing read first and the decisions that led there), then, once the machine
    has folded the result, the outcome with the committing decision and the snapshot after it."""
    parts = Parts()
    settled = await parts.swap()
    assert settled.applied and parts.platform.routed_to == "tg-secondary"
    assert parts.store.writes == ["begin_intent"]
    [intent] = parts.store.intents()
    assert intent.status is IntentStatus.PENDING and intent.prior is not None
    assert intent.prior["trunk_group_id"] == "tg-primary"
    assert [d["sentence"] for d in parts.store.decisions] == ["trunk p1 is down", "activating the secondary carrier"]
    after = replace(PairSnapshot(), state=PairState.SECONDARY_ACTIVE, active="secondary", swaps=1)
    parts.recorder.decision(parts.clock(), "swap", "committed: inbound routing is on the secondary carrier", after, {})
    parts.actuator.settled(settled.key)
    await parts.actuator.drain()
    assert parts.store.writes == ["begin_intent", "finish_intent"]
    [intent] = parts.store.intents()
    assert intent.status is IntentStatus.APPLIED and intent.after is not None
    assert parts.store.decisions[-1]["sentence"].startswith("committed:") and parts.store.snapshot == after


async def test_a_swap_whose_intent_cannot_be_stored_is_never_started() -> None:
    parts = Parts()
    parts.store.fail_with = StoreError("the store did not answer within 5s")
    settled = await parts.swap()
    assert not settled.applied and not settled.attempted and "could not be stored" in settled.detail
    assert parts.platform.writes == [] and parts.store.writes == []
    assert [p.kind for p in parts.pages] == ["store_unreachable", "swap_held_back"]  # the link paged the outage
    parts.store.fail_with = None
    assert await parts.recorder.flush()  # the decisions that led there were kept, in order
    assert [d["sentence"] for d in parts.store.decisions] == ["trunk p1 is down"]
    assert [p.kind for p in parts.pages] == ["store_unreachable", "swap_held_back", "store_reachable"]


async def test_a_platform_that_cannot_be_read_gets_no_intent_and_no_write() -> None:
    parts = Parts()
    parts.platform.fail_reads = True
    settled = await parts.swap()
    assert not settled.applied and settled.attempted  # a failed swap: paged and retried at the next poll
    assert settled.detail.startswith("could not read the routing before writing")
    assert parts.store.writes == [] and parts.platform.writes == []


async def test_a_lease_near_expiry_starts_nothing_and_the_decisions_stay_pending() -> None:
    parts = Parts(fresh=False)
    settled = await parts.swap()
    assert not settled.attempted and settled.detail == "not acting: the lease is near expiry"
    assert parts.store.writes == [] and parts.platform.writes == []


async def test_a_refused_write_is_recorded_as_failed_with_its_reason() -> None:
    parts = Parts()
    parts.platform.refuse_writes = True
    settled = await parts.swap()
    assert not settled.applied and "403" in settled.detail
    parts.actuator.settled(settled.key)
    await parts.actuator.drain()
    [intent] = parts.store.intents()
    assert intent.status is IntentStatus.FAILED and "403" in intent.outcome


async def test_the_recorder_keeps_a_refused_batch_in_order_and_drops_it_on_a_lost_lease() -> None:
    parts = Parts()
    rec = parts.recorder
    rec.decision(1.0, "trunk", "first", PairSnapshot(), {})
    parts.store.fail_with = StoreError("disk full")
    assert not await rec.flush()
    rec.decision(2.0, "trunk", "second", PairSnapshot(), {})
    parts.store.fail_with = None
    assert await rec.flush()
    assert [d["sentence"] for d in parts.store.decisions] == ["first", "second"]
    rec.decision(3.0, "trunk", "third", PairSnapshot(), {})
    parts.store.take_over("another replica")  # fenced: the write is refused, and not kept for ever
    assert not await rec.flush()
    assert rec.take().decisions == []


async def test_a_standby_recorder_writes_nothing() -> None:
    parts = Parts(term=None)
    parts.recorder.decision(1.0, "trunk", "seen by a standby", PairSnapshot(), {})
    assert not await parts.recorder.flush()
    assert parts.store.writes == [] and parts.store.decisions == []


async def test_the_lease_keeper_takes_renews_and_loses_the_lease() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    pages: list[Notify] = []
    alerts = Alerts(Dispatcher([]), "trunkguard/x", clock, dict, lambda *_: None)
    alerts.notify = lambda notify, **_: pages.append(notify)  # type: ignore[method-assign]
    keeper = LeaseKeeper(StoreLink(store, health=alerts), 0.06, clock, Identity.of_this_process("a"))
    taken: asyncio.Queue[int] = asyncio.Queue()
    lost: asyncio.Queue[str] = asyncio.Queue()

    async def acquired(term: int) -> None:
        taken.put_nowait(term)

    stop = asyncio.Event()
    task = asyncio.create_task(keeper.keep(stop, acquired, lost.put_nowait, pages.append))
    try:
        assert await asyncio.wait_for(taken.get(), 5) == 1 and keeper.current().term == 1
        store.take_over("replica-b")  # another replica took it (this one was stopped past its expiry)
        why = await asyncio.wait_for(lost.get(), 5)
        assert why.startswith("lost the lease") and keeper.current().term is None
        assert [p.kind for p in pages] == ["lease_lost"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


@pytest.mark.parametrize("failure", [StoreError("connection refused"), LeaseLost("term 1 is stale")])
async def test_the_store_link_reports_health_itself(failure: StoreError) -> None:
    calls: list[tuple[str, Any]] = []

    class Health:
        def store_trouble(self, exc: StoreError, what: str) -> None:
            calls.append(("trouble", what))

        def store_fine(self) -> None:
            calls.append(("fine", None))

    store = MemoryStore()
    link = StoreLink(store, health=Health())
    store.fail_with = failure
    with pytest.raises(type(failure)):
        await link.call(store.load_snapshot, doing="restoring")
    store.fail_with = None
    await link.call(store.load_snapshot)
    assert calls == [("trouble", "restoring"), ("fine", None)]


def test_the_machine_events_are_dispatched_exhaustively() -> None:
    """mypy checks `assert_never` in the loop; here, every event kind is known to the trace codec too."""
    from trunkguard.store.codec import _EVENTS

    kinds = {LeaseChanged.__name__, SwapSettled.__name__}
    assert kinds <= set(_EVENTS)


class PollParts:
    def __init__(self, *, term: int | None = 1, recheck_every: float = 3600.0) -> None:
        self.clock = ManualClock()
        self.store = MemoryStore(clock=self.clock)
        if term is not None:
            self.store.take_over("me")
        self.platform = MemoryPlatform(calls=3)
        self.posted: asyncio.Queue[Event] = asyncio.Queue()
        self.ran: list[str] = []

        def check(name: str, ok: bool) -> Any:
            async def run(carrier: str) -> CheckResult:
                self.ran.append(name)
                return CheckResult(name, carrier, ok, self.clock(), f"{name} {'passed' if ok else 'failed'}", {})
            return run

        rules = PollRules(timeout=1.0, ages={"sweep": None, "certs": None, "parity": None},
                          recheck_every=recheck_every, sweep_every=0.0)
        self.pollers = Pollers(rules, Rechecks(check("sweep", True), check("certs", True), check("parity", False)),
                               self.platform, StoreLink(self.store), HeldLease(term), self.posted.put_nowait,
                               self.clock, GROUPS)

    async def next(self, kind: type[Any]) -> Any:
        while True:
            event = await asyncio.wait_for(self.posted.get(), 5)
            if isinstance(event, kind):
                return event


async def test_a_poll_reads_the_calls_and_the_stored_checks() -> None:
    parts = PollParts(recheck_every=0)
    parts.store.save_check("sweep", "secondary", True, parts.clock(), "20/20 DIDs answered", {})
    parts.pollers.poll()
    calls = await parts.next(CallsRead)
    assert calls.count == 3 and calls.detail == "read"
    checks = await parts.next(ChecksRead)
    assert checks.readiness.sweep_ok is True and checks.readiness.parity_ok is None
    parts.platform.fail_reads = True
    parts.pollers.poll()
    unknown = await parts.next(CallsRead)
    assert unknown.count is None and unknown.detail.startswith("unknown: ")  # the breaker queues on unknown
    await parts.pollers.close()


async def test_the_leader_rechecks_when_due_and_stores_under_its_term() -> None:
    parts = PollParts()
    parts.pollers.poll()
    checks = await parts.next(ChecksRead)
    while checks.readiness.certs_ok is None:  # the re-check's own read comes after the first one
        checks = await parts.next(ChecksRead)
    assert parts.ran == ["certs", "parity"] and checks.readiness.parity_ok is False
    assert {(c["check"], c["term"]) for c in parts.store.checks} == {("certs", 1), ("parity", 1)}
    parts.pollers.poll()  # not due again for an hour
    await parts.next(ChecksRead)
    assert parts.ran == ["certs", "parity"]
    parts.clock.advance(3600)
    parts.pollers.poll()
    while len(parts.ran) < 4:
        await parts.next(ChecksRead)
    assert parts.ran == ["certs", "parity", "certs", "parity"]
    await parts.pollers.close()


async def test_in_a_chain_each_later_carrier_is_rechecked_and_the_certificates_are_read_and_paged_once() -> None:
    parts = PollParts()
    pages: list[Any] = []
    chain = {"a": "tg-a", "b": "tg-b", "c": "tg-c"}
    rules = PollRules(timeout=1.0, ages={"sweep": None, "certs": None, "parity": None}, recheck_every=3600.0)
    parts.pollers = Pollers(rules, parts.pollers.checks, parts.platform, StoreLink(parts.store), HeldLease(1),
                            parts.posted.put_nowait, parts.clock, chain, notify=pages.append)
    parts.pollers.poll()
    seen: set[str] = set()
    while seen != {"b", "c"} or len(parts.ran) < 3:
        event = await parts.next(ChecksRead)
        if event.readiness.certs_ok is not None:
            seen.add(event.carrier)
    assert parts.ran == ["certs", "parity", "parity"]  # the certificates once, parity per carrier
    stored = {(c["check"], c["carrier"]) for c in parts.store.checks}
    assert stored == {("certs", "b"), ("certs", "c"), ("parity", "b"), ("parity", "c")}
    await parts.pollers.close()


async def test_a_standby_rechecks_nothing() -> None:
    parts = PollParts(term=None)
    parts.pollers.poll()
    await parts.next(ChecksRead)
    assert parts.ran == [] and parts.store.checks == []
    await parts.pollers.close()


async def test_a_second_swap_is_refused_while_one_is_being_carried_out() -> None:
    parts = Parts()
    gate = parts.hold_reads()
    swap = Swap("secondary", "automatic", "primary down", "swap-t-1-to-secondary", parts.clock())
    snapshot = replace(PairSnapshot(), state=PairState.ACTIVATING, in_flight=swap, swaps=1)
    parts.actuator.start(StartSwap(swap, snapshot, "activating"), {})
    parts.actuator.start(StartSwap(replace(swap, key="swap-t-2-to-secondary"), snapshot, "activating"), {})
    refused = await asyncio.wait_for(parts.posted.get(), 5)
    assert isinstance(refused, SwapSettled) and refused.key == "swap-t-2-to-secondary" and not refused.attempted
    gate.set()
    done = await asyncio.wait_for(parts.posted.get(), 5)
    assert isinstance(done, SwapSettled) and done.applied and len(parts.platform.writes) == 1


async def test_a_drift_read_begun_before_a_swap_is_dropped() -> None:
    """The review's finding: a slow drift read landing after trunkguard's own swap would adopt the old routing."""
    parts = Parts()
    watch = RoutingWatch(parts.platform, parts.actuator, GROUPS, 5.0, parts.pages.append, parts.posted.put_nowait,
                         parts.clock)
    watch.known = True
    gate = parts.hold_reads()
    drift = asyncio.create_task(watch.check_drift())
    await asyncio.sleep(0)
    parts.actuator.started += 1  # a swap starts while the drift read waits on the platform
    gate.set()
    await asyncio.wait_for(drift, 5)
    assert parts.posted.empty()
    await watch.check_drift()  # a read begun after it is told to the machine
    read_event = await asyncio.wait_for(parts.posted.get(), 5)
    assert read_event.when == "drift check" and read_event.hold


def test_the_intent_never_overwrites_a_newer_snapshot_in_its_batch() -> None:
    store = MemoryStore()
    term = store.take_over("me")
    swap = Swap("secondary", "automatic", "r", "k-1-to-secondary", 10.0)
    in_flight = replace(PairSnapshot(), state=PairState.ACTIVATING, in_flight=swap)
    paused = replace(in_flight, state=PairState.PAUSED)
    store.begin_intent(term, 10.0, swap, "tg-b", in_flight, sentence="s", evidence={},
                       batch=Batch(snapshot=(12.0, paused)))  # a pause folded while the routing was read
    assert store.snapshot == paused


async def test_the_way_home_restores_the_routing_recorded_when_the_chain_was_left() -> None:
    """a > b > c > b > a: the swap home restores what a's objects said before a > b, though the newest
    swap into b started on c and the newest into c started on b (what a lookup by target missed)."""
    parts = Parts()
    chain = {"a": "tg-a", "b": "tg-b", "c": "tg-c"}
    parts.actuator.groups = chain
    store, at = parts.store, 0.0
    for n, (frm, to) in enumerate((("a", "b"), ("b", "c"), ("c", "b")), start=1):
        at += 10
        swap = Swap(to, "automatic", "down", f"k{n}", at, up=to == "b" and frm == "c")
        prior = {"rule_id": "r", "trunk_group_id": chain[frm], "version": n, "raw": {"order": f"as {frm} had it"}}
        store.begin_intent(1, at, swap, chain[to], replace(PairSnapshot(active=frm), in_flight=swap), sentence="s",
                           evidence={}, prior=prior)
        store.finish_intent(1, f"k{n}", IntentStatus.APPLIED, "applied", at + 1)
    restore = await parts.actuator._recorded_before("a")
    assert restore is not None and restore.trunk_group_id == "tg-a" and restore.raw == {"order": "as a had it"}
    assert (await parts.actuator._recorded_before("c")).raw == {"order": "as c had it"}  # type: ignore[union-attr]
