"""The store against real SQLite files and a real PostgreSQL: migrations, fencing, intents, history."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import sqlalchemy

from trunkguard.core.failover import OperatorAction, PairSnapshot, PairState, Swap
from trunkguard.store import Batch, IntentStatus, LeaseLost, Store


def _swap(n: int = 1, to: str = "secondary", trigger: str = "automatic") -> Swap:
    return Swap(to, trigger, "primary carrier unusable", f"swap-{n}-to-{to}", 100.0,  # type: ignore[arg-type]
                up=to == "primary")


def test_migrations_create_every_table_and_run_twice_harmlessly(store_url: str) -> None:
    store = Store.open(store_url)
    store.migrate()  # a second start-up finds the schema at head and changes nothing
    tables = set(sqlalchemy.inspect(store.engine).get_table_names())
    assert {"lease", "pair_state", "decisions", "intents", "operator_actions", "alembic_version"} <= tables
    store.close()


def test_lease_terms_grow_with_each_new_holder_and_a_live_lease_is_not_taken(store_url: str) -> None:
    store = Store.open(store_url)
    assert store.acquire_lease("a", ttl=10, now=0) == 1
    assert store.acquire_lease("a", ttl=10, now=5) == 1  # renewal keeps the term
    assert store.acquire_lease("b", ttl=10, now=6) is None  # a's lease runs until 15
    assert store.acquire_lease("b", ttl=10, now=16) == 2  # expired: b takes it with a new term
    with pytest.raises(LeaseLost):
        store.renew_lease("a", 1, ttl=10, now=17)
    store.close()


def test_a_stale_term_writes_nothing(store_url: str) -> None:
    store = Store.open(store_url)
    store.acquire_lease("a", ttl=10, now=0)
    store.acquire_lease("b", ttl=10, now=20)  # a's term 1 is now stale
    snap = replace(PairSnapshot(), in_flight=_swap())
    with pytest.raises(LeaseLost, match="term 1 is stale"):
        store.begin_intent(1, 21, _swap(), "tg-secondary", snap, sentence="activating", evidence={})
    assert store.intents() == []
    assert store.load_snapshot() is None
    assert store.history() == []
    store.close()


def test_an_intent_is_recorded_before_acting_and_finished_with_its_outcome(store_url: str) -> None:
    """Two writes a swap: the intent (with the routing read before it, the decisions that led to it and the
    snapshot with it in flight), then its outcome with the decision that commits it and the snapshot after."""
    store = Store.open(store_url)
    term = store.acquire_lease("a", ttl=10, now=0)
    assert term == 1
    swap = _swap()
    snap = replace(PairSnapshot(), state=PairState.ACTIVATING, in_flight=swap, swaps=1)
    led_here = Batch(decisions=[{"at": 99.0, "kind": "trunk", "sentence": "trunk primary-1 is down", "state":
                                 "primary_active", "active": "primary", "intent_key": None, "evidence": {}}])
    store.begin_intent(term, 100, swap, "tg-secondary", snap, sentence="activating the secondary carrier",
                       evidence={"trunks": [{"name": "primary-1", "state": "down"}]},
                       prior={"trunk_group_id": "tg-primary", "version": 3}, batch=led_here)
    pending = store.intents(status=IntentStatus.PENDING)
    assert [i.key for i in pending] == ["swap-1-to-secondary"]
    assert store.load_snapshot() == snap  # a restart here sees the swap in flight
    after = replace(snap, state=PairState.SECONDARY_ACTIVE, in_flight=None)
    committed = Batch(decisions=[{"at": 101.0, "kind": "swap", "sentence": "committed: inbound routing is on the "
                                  "secondary carrier", "state": "secondary_active", "active": "secondary",
                                  "intent_key": None, "evidence": {}}], snapshot=(101.0, after))
    store.finish_intent(term, swap.key, IntentStatus.APPLIED, "read back: tg-secondary", 101,
                        after={"trunk_group_id": "tg-secondary", "version": 4}, batch=committed)
    [done] = store.intents()
    assert done.status is IntentStatus.APPLIED
    assert done.prior == {"trunk_group_id": "tg-primary", "version": 3}
    assert done.after == {"trunk_group_id": "tg-secondary", "version": 4}
    assert [d["sentence"] for d in store.history()] == ["trunk primary-1 is down", "activating the secondary carrier",
                                                       "committed: inbound routing is on the secondary carrier"]
    decision = store.history()[1]
    assert decision["intent_key"] == swap.key and decision["evidence"]["trunks"][0]["state"] == "down"
    assert store.load_snapshot() == after
    store.close()


def test_the_same_idempotency_key_cannot_be_recorded_twice(store_url: str) -> None:
    from trunkguard.store import StoreError

    store = Store.open(store_url)
    term = store.acquire_lease("a", ttl=10, now=0)
    assert term is not None
    snap = replace(PairSnapshot(), in_flight=_swap())
    store.begin_intent(term, 1, _swap(), "tg-secondary", snap, sentence="x", evidence={})
    with pytest.raises(StoreError):
        store.begin_intent(term, 2, _swap(), "tg-secondary", snap, sentence="x", evidence={})
    assert len(store.intents()) == 1
    store.close()


def test_a_failback_approval_is_used_once_by_the_swap_it_allows(store_url: str) -> None:
    store = Store.open(store_url)
    term = store.acquire_lease("a", ttl=10, now=0)
    assert term is not None
    approval = OperatorAction("failback", "alice", "carrier confirmed the fix", 50.0)
    store.record_action(term, approval, "failback approved")
    swap = _swap(2, "primary", "operator")
    store.begin_intent(term, 60, swap, "tg-primary", replace(PairSnapshot(), in_flight=swap), sentence="back",
                       evidence={})
    [row] = store.actions()
    assert row["who"] == "alice" and row["used_by"] == swap.key and row["used_at"] == 60
    store.close()


def test_history_is_newest_last_and_limited(store_url: str) -> None:
    store = Store.open(store_url)
    term = store.acquire_lease("a", ttl=10, now=0)
    assert term is not None
    for i in range(5):
        store.save(term, float(i), PairSnapshot(), kind="cycle", sentence=f"decision {i}")
    assert [d["sentence"] for d in store.history(limit=3)] == ["decision 2", "decision 3", "decision 4"]
    store.close()


def test_an_unreachable_database_is_a_clear_store_error() -> None:
    from trunkguard.store import StoreError

    with pytest.raises(StoreError, match="cannot prepare the store"):
        Store.open("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")


def test_the_lease_lapses_on_the_stores_clock_and_a_lapsed_term_cannot_be_renewed(store_url: str) -> None:
    store = Store.open(store_url)
    assert store.acquire_lease("a/host/1/x", ttl=0.4) == 1
    assert store.acquire_lease("a/host/2/y", ttl=0.4) is None  # same name and host, another process: waits
    lease = store.lease()
    assert lease is not None and 0 < lease["left_s"] <= 0.4
    time.sleep(0.5)
    with pytest.raises(LeaseLost, match="lapsed"):  # nobody took it, but a renewal after a pause is refused
        store.renew_lease("a/host/1/x", 1, ttl=0.4)
    assert store.acquire_lease("a/host/2/y", ttl=10) == 2
    with pytest.raises(LeaseLost):
        store.save(1, 2, PairSnapshot(), kind="cycle", sentence="from the old process")
    store.release_lease("a/host/2/y", 2)  # a clean stop: the next candidate need not wait
    assert store.acquire_lease("a/host/1/x", ttl=10) == 3
    store.close()


def test_members_heartbeat_on_the_stores_clock_and_read_back_with_the_lease(store_url: str) -> None:
    store = Store.open(store_url)
    assert store.acquire_lease("r1/h/1/a", ttl=10) == 1
    first = store.heartbeat("r1/h/1/a", name="r1", kind="replica", host="h", pid=1, started_at=5.0)
    time.sleep(0.2)
    second = store.heartbeat("agent-b/h2/7/c", name="agent-b", kind="agent", host="h2", pid=7, started_at=6.0,
                             view={"down": ["primary"], "reaches": ["secondary"]})
    assert second["now"] > first["now"]
    assert [m["name"] for m in second["members"]] == ["agent-b", "r1"]  # newest first
    r1 = second["members"][1]
    assert 0.15 <= r1["age_s"] < 2 and r1["view"] is None
    assert second["members"][0]["view"] == {"down": ["primary"], "reaches": ["secondary"]}
    assert second["lease"]["holder"] == "r1/h/1/a" and second["lease"]["term"] == 1
    time.sleep(0.2)
    store.heartbeat("r1/h/1/a", name="r1", kind="replica", host="h", pid=1, started_at=5.0, forget_after=0.1)
    assert [m["name"] for m in store.members()[1]] == ["r1"]  # agent-b unheard for 0.2 s > 0.1 s: forgotten
    store.forget_member("r1/h/1/a")
    assert store.members()[1] == []
    store.close()


def test_the_migrations_build_exactly_the_models_schema(store_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from trunkguard.store.models import Base

    store = Store.open(store_url)
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    store.close()


def test_replicas_starting_together_migrate_one_at_a_time(store_url: str) -> None:
    """Three processes opening a new store at once: on PostgreSQL, without the advisory lock, two
    would create the same tables and one would fail with a duplicate key."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: Store.open(store_url), range(4)))
    assert all(s.lease() is None for s in stores)
    for s in stores:
        s.close()


def test_a_frozen_replicas_open_transaction_cannot_hold_the_lease_row_for_ever() -> None:
    """A leader SIGSTOPped between its lease UPDATE and its COMMIT keeps the row locked: PostgreSQL ends
    its transaction after 2 s idle (idle_in_transaction_session_timeout), and the candidate's wait
    for the lock is itself bounded, so a candidate takes the lease once it lapses."""
    from tests.conftest import _postgres_schema

    schemas = _postgres_schema()
    url = next(schemas)
    try:
        frozen, candidate = Store.open(url), Store.open(url)
        assert frozen.acquire_lease("a/h/1/x", ttl=0.5) == 1
        conn = frozen.engine.connect()
        tx = conn.begin()
        conn.execute(sqlalchemy.text("SELECT * FROM lease FOR UPDATE"))  # ... and the process stops here
        time.sleep(0.6)  # the lease lapses
        started = time.monotonic()
        term = None
        while term is None and time.monotonic() - started < 8:
            try:
                term = candidate.acquire_lease("b/h/2/y", ttl=5)
            except Exception:  # the bounded lock wait: tried again, as the lease keeper does
                time.sleep(0.1)
        assert term == 2 and time.monotonic() - started < 5
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="idle-in-transaction timeout"):  # the server ended it
            conn.execute(sqlalchemy.text("SELECT 1"))
        tx.rollback()
        conn.close()
        frozen.close()
        candidate.close()
    finally:
        schemas.close()


def test_a_chains_carrier_names_are_stored_whole_and_an_approved_step_up_uses_the_approval(store_url: str) -> None:
    """Carrier names come from the config (up to 64 characters), not only primary/secondary: the intent's
    target, the decision's active carrier and a check's carrier keep them whole, on PostgreSQL too
    (its VARCHAR(16) refused them before migration 0004). A person's approval is used by the step up it
    allows, whatever the carrier's name."""
    name = "emea-backup-carrier-" + "x" * 44
    store = Store.open(store_url)
    term = store.acquire_lease("a", ttl=10, now=0)
    assert term is not None
    store.record_action(term, OperatorAction("failback", "alice", "carrier fixed", 50.0), "failback approved")
    swap = Swap(name, "operator", "failback approved by alice", "swap-1-to-long", 60.0, up=True)
    store.begin_intent(term, 60, swap, "tg-long", replace(PairSnapshot(active="c"), in_flight=swap),
                       sentence="back", evidence={})
    store.save_check("sweep", name, True, 61.0, "20/20 DIDs answered", {})
    [intent] = store.intents()
    assert intent.to_role == name and store.history(1)[0]["active"] == "c"
    assert store.latest_checks(name)["sweep"]["ok"] is True
    [row] = store.actions()
    assert row["used_by"] == swap.key
    store.close()
