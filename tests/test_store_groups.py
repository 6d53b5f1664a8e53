"""Routing groups in one store (SQLite files and a real PostgreSQL): each group's snapshot, decisions,
intents and people's actions apart, under the one lease; and a store from before groups migrated
with what it held as the "default" group's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import sqlalchemy
from alembic import command
from alembic.config import Config as AlembicConfig

from trunkguard.core.failover import OperatorAction, PairSnapshot, PairState, Swap
from trunkguard.store import Batch, IntentStatus, LeaseLost, Store
from trunkguard.store.codec import snapshot_to_json
from trunkguard.store.database import MIGRATIONS
from trunkguard.store.models import DEFAULT_GROUP
from trunkguard.testing import MemoryStore

NA = replace(PairSnapshot(), active="na-primary", since=1.0)
EMEA = replace(PairSnapshot(), state=PairState.SECONDARY_ACTIVE, active="emea-backup", since=2.0, swaps=3)


def _swap(key: str, to: str = "secondary", trigger: str = "automatic", up: bool = False) -> Swap:
    return Swap(to, trigger, "carrier unusable", key, 100.0, up)  # type: ignore[arg-type]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.open(store_url)
    yield store
    store.close()


def _term(store: Store) -> int:
    term = store.acquire_lease("a", ttl=10, now=0)
    assert term is not None
    return term


def _decision(sentence: str, at: float, **group: str) -> dict[str, object]:
    return {"at": at, "kind": "trunk", "sentence": sentence, "state": "primary_active", "active": "primary",
            "intent_key": None, "evidence": {}, **group}


def test_the_default_group_is_named_default() -> None:
    assert DEFAULT_GROUP == "default"


def test_two_groups_snapshots_are_independent(store: Store) -> None:
    term = _term(store)
    store.save(term, 10.0, NA)
    store.save(term, 11.0, EMEA, group="emea")
    assert store.load_snapshot() == NA and store.load_snapshot(group=DEFAULT_GROUP) == NA
    assert store.load_snapshot(group="emea") == EMEA
    assert store.load_snapshot(group="apac") is None and store.stored_view(group="apac") is None
    later = replace(EMEA, swaps=4)
    store.save(term, 12.0, later, group="emea")  # the group's row written over, the other left alone
    assert store.load_snapshots() == {"default": NA, "emea": later}
    views = store.stored_views()
    assert set(views) == {"default", "emea"}
    assert views["emea"] == {"snapshot": later, "updated_at": 12.0, "term": term}
    assert store.stored_view() == {"snapshot": NA, "updated_at": 10.0, "term": term}
    with store.engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT count(*) FROM pair_state")).scalar_one() == 2


def test_a_batch_writes_each_groups_latest_snapshot_in_one_transaction(store: Store) -> None:
    term = _term(store)
    assert Batch(snapshots={"emea": (1.0, EMEA)})  # something to write
    store.write_batch(term, Batch(snapshot=(5.0, NA), snapshots={"emea": (5.0, EMEA), "apac": (5.0, NA)},
                                  decisions=[_decision("na down", 4.0), _decision("emea down", 4.5, group="emea")]))
    assert store.load_snapshots() == {"apac": NA, "default": NA, "emea": EMEA}
    newer = replace(NA, swaps=9)
    store.write_batch(term, Batch(snapshot=(6.0, NA), snapshots={"default": (7.0, newer)}))
    assert store.load_snapshot() == newer  # the newer of the two the batch holds for the default group
    store.write_batch(term, Batch(snapshot=(9.0, NA), snapshots={"default": (8.0, newer)}))
    assert store.load_snapshot() == NA
    assert [(d["group"], d["sentence"]) for d in store.history()] == [("default", "na down"), ("emea", "emea down")]


def test_history_is_read_for_one_group_or_every_group(store: Store) -> None:
    term = _term(store)
    for i in range(3):
        store.save(term, float(i), NA, kind="cycle", sentence=f"na {i}")
        store.save(term, i + 0.5, EMEA, group="emea", kind="cycle", sentence=f"emea {i}")
    assert [d["sentence"] for d in store.history()] == ["na 0", "emea 0", "na 1", "emea 1", "na 2", "emea 2"]
    assert [d["sentence"] for d in store.history(2, group="emea")] == ["emea 1", "emea 2"]
    assert {d["group"] for d in store.history(group="emea")} == {"emea"}
    assert [d["sentence"] for d in store.history(group=DEFAULT_GROUP)] == ["na 0", "na 1", "na 2"]
    assert store.history(group="apac") == []
    rows, total = store.history_page(2, 1, group="emea")
    assert [d["sentence"] for d in rows] == ["emea 1", "emea 2"] and total == 3
    rows, total = store.history_page(2, 2, group="emea")
    assert [d["sentence"] for d in rows] == ["emea 0"] and total == 3
    rows, total = store.history_page(10, 1, 1.0, group="default")
    assert [d["sentence"] for d in rows] == ["na 1", "na 2"] and total == 2
    rows, total = store.history_page(10, 1, 1.0)
    assert [d["group"] for d in rows] == ["default", "emea", "default", "emea"] and total == 4


def test_intents_are_kept_per_group_and_last_intent_sees_only_its_own(store: Store) -> None:
    term = _term(store)
    na_swap, emea_swap = _swap("swap-na"), _swap("swap-emea")
    na_flight, emea_flight = replace(NA, in_flight=na_swap), replace(EMEA, in_flight=emea_swap)
    store.begin_intent(term, 100, na_swap, "tg-na-2", na_flight, sentence="na", evidence={})
    store.begin_intent(term, 101, emea_swap, "tg-emea-2", emea_flight, sentence="emea", evidence={}, group="emea")
    assert store.load_snapshots() == {"default": na_flight, "emea": emea_flight}  # each its own in flight
    assert [i.key for i in store.intents()] == ["swap-na", "swap-emea"]
    [emea] = store.intents(group="emea")
    assert emea.key == "swap-emea" and emea.group == "emea" and emea.as_dict()["group"] == "emea"
    assert [i.group for i in store.intents(status=IntentStatus.PENDING, group="default")] == ["default"]
    pending = (IntentStatus.PENDING,)
    last = store.last_intent(to_role="secondary", statuses=pending)
    assert last is not None and last.key == "swap-na"  # the default group's, though emea's is newer
    last = store.last_intent(to_role="secondary", statuses=pending, group="emea")
    assert last is not None and last.key == "swap-emea"
    assert store.last_intent(to_role="secondary", statuses=pending, group="apac") is None
    store.finish_intent(term, "swap-emea", IntentStatus.APPLIED, "read back", 102,
                        batch=Batch(snapshots={"emea": (102.0, EMEA)}))
    assert store.last_intent(to_role="secondary", statuses=pending, group="emea") is None
    assert store.load_snapshots() == {"default": na_flight, "emea": EMEA}
    assert [(d["group"], d["intent_key"]) for d in store.history()] == [("default", "swap-na"),
                                                                        ("emea", "swap-emea")]


def test_an_intent_never_writes_its_snapshot_over_a_newer_one_of_its_group_in_the_batch(store: Store) -> None:
    term = _term(store)
    swap = _swap("swap-emea")
    store.begin_intent(term, 100, swap, "tg", replace(EMEA, in_flight=swap), sentence="x", evidence={},
                       group="emea", batch=Batch(snapshot=(200.0, NA), snapshots={"emea": (150.0, EMEA)}))
    assert store.load_snapshots() == {"default": NA, "emea": EMEA}


def test_people_act_on_one_group_and_an_approval_is_used_only_by_its_groups_swap(store: Store) -> None:
    term = _term(store)
    store.record_action(term, OperatorAction("failback", "alice", "emea fixed", 50.0), "approved", group="emea")
    store.record_action(term, OperatorAction("pause", "bob", "na works", 51.0), "paused")
    store.queue_action(OperatorAction("resume", "bob", "na done", 52.0))
    store.queue_action(OperatorAction("failover", "carol", "emea drill", 53.0), group="emea")
    assert [(a["group"], a["who"]) for a in store.actions()] == [("emea", "alice"), ("default", "bob"),
                                                                ("default", "bob"), ("emea", "carol")]
    assert [a["who"] for a in store.actions(group="emea")] == ["alice", "carol"]
    assert [a["why"] for a in store.actions(1, group="default")] == ["na done"]
    [(row_id, action)] = store.queued_actions()  # a cycle before groups acts on the default group's only
    assert action.why == "na done"
    assert [(g, a.why) for _, g, a in store.queued_actions_of()] == [("default", "na done"), ("emea", "emea drill")]
    [(emea_id, group, _)] = store.queued_actions_of("emea")
    assert group == "emea" and emea_id != row_id
    store.took_queued(term, emea_id, "done")
    assert store.queued_actions_of("emea") == []

    up = _swap("swap-na-up", "primary", "operator", up=True)
    store.begin_intent(term, 60, up, "tg", replace(NA, in_flight=up), sentence="back", evidence={})
    assert store.actions(group="emea")[0]["used_by"] is None  # not the default group's approval to use
    up = _swap("swap-emea-up", "primary", "operator", up=True)
    store.begin_intent(term, 61, up, "tg", replace(EMEA, in_flight=up), sentence="back", evidence={}, group="emea")
    assert store.actions(group="emea")[0]["used_by"] == "swap-emea-up"


def test_a_stale_term_writes_nothing_to_any_group(store: Store) -> None:
    store.acquire_lease("a", ttl=10, now=0)
    store.acquire_lease("b", ttl=10, now=20)  # a's term 1 is stale
    swap = _swap("swap-emea")
    with pytest.raises(LeaseLost):
        store.save(1, 21, EMEA, group="emea", kind="cycle", sentence="x")
    with pytest.raises(LeaseLost):
        store.write_batch(1, Batch(snapshots={"emea": (21.0, EMEA)}, decisions=[_decision("x", 21, group="emea")]))
    with pytest.raises(LeaseLost):
        store.record_action(1, OperatorAction("pause", "bob", "x", 21.0), "paused", group="emea")
    with pytest.raises(LeaseLost):
        store.begin_intent(1, 21, swap, "tg", replace(EMEA, in_flight=swap), sentence="x", evidence={},
                           group="emea")
    assert store.load_snapshots() == {} and store.history() == [] and store.actions() == []
    assert store.intents() == []


def test_a_groups_name_is_one_to_64_characters(store: Store) -> None:
    term = _term(store)
    store.save(term, 1.0, EMEA, group="g" * 64)
    assert store.load_snapshot(group="g" * 64) == EMEA
    for bad in ("", "g" * 65):
        with pytest.raises(ValueError, match="1 to 64 characters"):
            store.save(term, 1.0, EMEA, group=bad)
        with pytest.raises(ValueError, match="1 to 64 characters"):
            store.queue_action(OperatorAction("pause", "bob", "x", 1.0), group=bad)
        with pytest.raises(ValueError, match="1 to 64 characters"):
            store.write_batch(term, Batch(decisions=[_decision("x", 1.0, group=bad)]))
    assert store.load_snapshots() == {"g" * 64: EMEA} and store.history() == []


def test_the_longest_swap_key_a_config_allows_is_stored(store: Store) -> None:
    """A group's swap key carries its name and the carrier's, each up to 64 characters: on PostgreSQL a
    120-character key column refused the intent, and the swap never ran."""
    term = _term(store)
    group, carrier = "g" * 64, "c" * 64
    swap = Swap(carrier, "automatic", "down", f"swap-{'0' * 12}-{group}-999999-to-{carrier}", 100.0)
    assert len(swap.key) > 150
    store.begin_intent(term, 100, swap, "tg", replace(EMEA, in_flight=swap), sentence="x", evidence={},
                       group=group)
    store.save(term, 101, EMEA, group=group, kind="swap", sentence="committed", intent_key=swap.key)
    assert [i.key for i in store.intents(group=group)] == [swap.key]
    assert store.history(group=group)[-1]["intent_key"] == swap.key


def test_the_memory_store_keeps_groups_apart_as_the_database_does() -> None:
    store = MemoryStore(clock=lambda: 0.0)
    term = store.try_lease("a", 10)[0]
    assert term is not None
    store.write_batch(term, Batch(snapshot=(1.0, NA), snapshots={"emea": (1.0, EMEA)},
                                  decisions=[_decision("x", 1.0)]))
    assert store.snapshot == NA and store.load_snapshots() == {"default": NA, "emea": EMEA}
    assert store.decisions[0]["group"] == "default"
    swap = _swap("swap-emea")
    store.begin_intent(term, 2, swap, "tg", replace(EMEA, in_flight=swap), sentence="x", evidence={}, group="emea")
    assert store.load_snapshot(group="emea") == replace(EMEA, in_flight=swap) and store.load_snapshot() == NA
    assert store.last_intent(to_role="secondary", statuses=(IntentStatus.PENDING,)) is None
    assert store.intents(group="emea")[0].group == "emea"
    store.record_action(term, OperatorAction("pause", "bob", "x", 3.0), "paused", group="emea")
    assert store.actions[-1]["group"] == "emea"


# ---- a store from before groups ---------------------------------------------------------------

def _upgrade(store: Store, revision: str, *, down: bool = False) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_a_store_from_before_groups_keeps_its_history_as_the_default_groups(store_url: str) -> None:
    old = Store(store_url, create=True)
    _upgrade(old, "0004")  # the schema before groups, written as that version wrote it
    meta = sqlalchemy.MetaData()
    with old.engine.begin() as conn:
        tables = {name: sqlalchemy.Table(name, meta, autoload_with=conn)
                  for name in ("lease", "pair_state", "decisions", "intents", "operator_actions")}
        assert "group" not in tables["decisions"].c
        conn.execute(tables["lease"].insert(), {"name": "trunkguard", "holder": "a", "term": 1, "expires_at": 1e12})
        conn.execute(tables["pair_state"].insert(), {"id": 1, "snapshot": snapshot_to_json(EMEA), "term": 1,
                                                     "updated_at": 30.0})
        conn.execute(tables["decisions"].insert(), [
            {"at": 10.0, "kind": "trunk", "sentence": "primary down", "state": "primary_active", "active": "primary",
             "intent_key": None, "evidence": {"trunks": []}, "term": 1},
            {"at": 20.0, "kind": "swap", "sentence": "activating", "state": "activating", "active": "primary",
             "intent_key": "swap-1", "evidence": {}, "term": 1}])
        conn.execute(tables["intents"].insert(), {
            "key": "swap-1", "to_role": "secondary", "trunk_group_id": "tg-2", "trigger": "automatic",
            "reason": "primary down", "status": "applied", "outcome": "read back", "prior": None, "after": None,
            "created_at": 20.0, "finished_at": 21.0, "term": 1})
        conn.execute(tables["operator_actions"].insert(), [
            {"kind": "failback", "who": "alice", "why": "fixed", "at": 25.0, "result": "approved", "used_at": None,
             "used_by": None, "term": 1},
            {"kind": "pause", "who": "bob", "why": "later", "at": 26.0, "result": Store.QUEUED, "used_at": None,
             "used_by": None, "term": 0}])
    old.close()

    store = Store.open(store_url)  # migrates to head
    assert store.load_snapshot() == EMEA and store.load_snapshots() == {"default": EMEA}
    assert store.stored_view() == {"snapshot": EMEA, "updated_at": 30.0, "term": 1}
    assert [(d["group"], d["sentence"]) for d in store.history(group="default")] == [
        ("default", "primary down"), ("default", "activating")]
    [intent] = store.intents(group="default")
    assert intent.key == "swap-1" and intent.group == "default"
    assert store.last_intent(to_role="secondary", statuses=(IntentStatus.APPLIED,)) == intent
    assert [(a["group"], a["who"]) for a in store.actions(group="default")] == [("default", "alice"),
                                                                               ("default", "bob")]
    assert [a.who for _, a in store.queued_actions()] == ["bob"]

    # The old row goes on as the default group's; a new group's row is added beside it (on PostgreSQL
    # the serial behind the id starts past the row written as id 1).
    store.save(1, 40.0, NA, kind="cycle", sentence="na")
    store.save(1, 41.0, EMEA, group="emea", kind="cycle", sentence="emea")
    store.save(1, 42.0, EMEA, group="apac")
    assert store.load_snapshots() == {"apac": EMEA, "default": NA, "emea": EMEA}
    with store.engine.connect() as conn:
        ids = dict(conn.execute(sqlalchemy.text('SELECT "group", id FROM pair_state')).all())
    assert ids["default"] == 1 and len(set(ids.values())) == 3

    _upgrade(store, "0004", down=True)  # one pair again: the default group's, as row 1
    with store.engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text("SELECT id, term FROM pair_state")).all()
        assert [tuple(r) for r in rows] == [(1, 1)]
        assert "group" not in {c["name"] for c in sqlalchemy.inspect(conn).get_columns("decisions")}
    store.migrate()
    assert store.load_snapshots() == {"default": NA}
    store.close()


def test_a_snapshot_never_overwrites_a_newer_one_of_its_group(store: Store) -> None:
    """One group's swap writes the snapshot it started from while the recorder (shared by every group)
    may already have stored a newer one of that group: the newer stays."""
    term = _term(store)
    newer = replace(EMEA, state=PairState.PAUSED)
    store.save(term, 200.0, newer, group="emea")
    swap = _swap("swap-emea-late")
    store.begin_intent(term, 150.0, swap, "tg", replace(EMEA, in_flight=swap), sentence="x", evidence={},
                       group="emea")
    assert store.load_snapshot(group="emea") == newer
    store.save(term, 250.0, EMEA, group="emea")
    assert store.load_snapshot(group="emea") == EMEA
