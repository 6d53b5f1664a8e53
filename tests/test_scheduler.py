"""The probe schedule: frozen, driven only by the time it is given, spread over the interval."""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from trunkguard.core.health import HealthRules, TrunkHealth, TrunkState
from trunkguard.core.scheduler import Schedule, TrunkSpec, due, finished, new_schedule, next_due, spread, suspicion

SPEC = TrunkSpec("p1", "primary", interval=15.0, timeout=2.0, confirm_interval=0.1,
                 rules=HealthRules(3, 2, 5), media_interval=60.0)


def _one() -> tuple[tuple[TrunkSpec, ...], Schedule]:
    specs = spread([SPEC])
    return specs, new_schedule(specs, 0.0)


def test_regular_probes_every_interval_and_media_on_its_own_clock() -> None:
    specs, s = _one()
    health = (TrunkHealth("p1", "primary"),)
    s, first = due(s, specs, health, 0.0)
    assert [(t.kind, t.seq) for t in first] == [("options", 1)]
    s, none = due(s, specs, health, 14.9)
    assert none == ()
    assert next_due(s, specs, health) == 15.0
    s, later = due(s, specs, health, 30.0)
    assert [t.kind for t in later] == ["options", "media"]  # media first due at 30 s, half its interval in


def test_suspect_gets_confirmation_probes_at_the_confirm_interval() -> None:
    specs, s = _one()
    health = (TrunkHealth("p1", "primary"),)
    s, _ = due(s, specs, health, 0.0)
    health = (TrunkHealth("p1", "primary", TrunkState.SUSPECT, since=0.5),)
    s = suspicion(s, 0, True)
    sent = []
    t = 0.5
    while t < 2.5:
        s, tasks = due(s, specs, health, t)
        sent += [(round(t, 2), task.seq) for task in tasks if task.kind == "confirm"]
        t = max(next_due(s, specs, health), t + 1e-9)
    assert [seq for _, seq in sent] == list(range(2, 12))  # 10 confirmations: 11 in flight in all
    assert sent[0][0] == 0.5 and abs(sent[-1][0] - 1.4) < 1e-6
    assert next_due(s, specs, health) == 15.0  # enough in flight to confirm: no more until some finish


def test_finished_probes_free_room_for_more_confirmations() -> None:
    specs, s = _one()
    health = (TrunkHealth("p1", "primary", TrunkState.SUSPECT, since=1.0),)
    s = suspicion(s, 0, True)
    s, tasks = due(s, specs, health, 1.0)
    collected = list(tasks)
    for t in (1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0):
        s, more = due(s, specs, health, t)
        collected += more
    assert len(collected) == 11  # one regular probe (due at 0) and ten confirmations
    s = finished(s, 0, collected[0].seq)
    s, again = due(s, specs, health, 2.1)
    assert [t.kind for t in again] == ["confirm"]


def test_a_carriers_trunks_are_evenly_spaced_and_the_secondary_half_a_slot_later() -> None:
    specs = spread([replace(SPEC, name=f"p{i}", media_interval=None) for i in range(4)]
                   + [replace(SPEC, name=f"s{i}", carrier="secondary", media_interval=None) for i in range(4)])
    assert [s.offset for s in specs] == [0.0, 3.75, 7.5, 11.25, 1.875, 5.625, 9.375, 13.125]
    schedule = new_schedule(specs, 0.0)
    health = tuple(TrunkHealth(s.name, s.carrier) for s in specs)
    times: list[tuple[float, str]] = []
    t = 0.0
    while t < 15.0:
        schedule, tasks = due(schedule, specs, health, t)
        times += [(t, task.trunk) for task in tasks]
        t = next_due(schedule, specs, health)
    assert [name for _, name in times] == ["p0", "s0", "p1", "s1", "p2", "s2", "p3", "s3"]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(times)]
    assert max(gaps) == min(gaps) == 1.875  # no two probes leave together


def test_offsets_are_on_the_clock_so_a_restart_keeps_them() -> None:
    specs = spread([replace(SPEC, name=f"p{i}", media_interval=None) for i in range(3)])
    health = tuple(TrunkHealth(s.name, s.carrier) for s in specs)
    before = new_schedule(specs, 1000.0)
    after = new_schedule(specs, 1007.0)  # restarted 7 s later
    _, first = due(before, specs, health, 1005.0)
    assert [t.trunk for t in first] == ["p2", "p0"]  # p2 at 1000 (66 x 15 + 10), p0 at 1005 (67 x 15)
    assert next_due(after, specs, health) == 1010.0  # p1 (67 x 15 + 5): the same slots as before the restart


def test_a_stalled_loop_skips_missed_rounds_instead_of_bursting() -> None:
    specs, s = _one()
    health = (TrunkHealth("p1", "primary"),)
    s, _ = due(s, specs, health, 0.0)
    s, late = due(s, specs, health, 100.0)  # nothing ran for 100 s
    assert [t.kind for t in late].count("options") == 1


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(0, 40), st.floats(0, 2e9))
def test_every_trunk_is_probed_once_per_interval(primaries: int, secondaries: int, start: float) -> None:
    specs = spread([replace(SPEC, name=f"p{i}", media_interval=None) for i in range(primaries)]
                   + [replace(SPEC, name=f"s{i}", carrier="secondary", media_interval=None) for i in range(secondaries)])
    health = tuple(TrunkHealth(s.name, s.carrier) for s in specs)
    schedule = new_schedule(specs, start)
    sent: dict[str, list[float]] = {s.name: [] for s in specs}
    t = start
    while t < start + 60.0:
        schedule, tasks = due(schedule, specs, health, t)
        for task in tasks:
            sent[task.trunk].append(t)
        t = next_due(schedule, specs, health)
    for times in sent.values():
        assert times[0] - start < 15.0 + 1e-6  # the first within one interval of the start
        assert all(abs(b - a - 15.0) < 1e-6 for a, b in itertools.pairwise(times))  # then every 15 s
