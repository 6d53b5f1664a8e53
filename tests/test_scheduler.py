"""The probe schedule, driven only by the time it is given."""

from __future__ import annotations

from trunkguard.core.health import HealthRules, TrunkHealth, TrunkState
from trunkguard.core.scheduler import ProbeScheduler, TrunkSchedule

SPEC = TrunkSchedule("p1", "primary", interval=15.0, timeout=2.0, confirm_interval=0.1,
                     rules=HealthRules(3, 2, 5), media_interval=60.0)


def test_regular_probes_every_interval_and_media_on_its_own_clock() -> None:
    s = ProbeScheduler([SPEC], start=0.0)
    health = {"p1": TrunkHealth("p1", "primary")}
    first = s.due(0.0, health)
    assert [(t.kind, t.seq) for t in first] == [("options", 1)]
    assert s.due(14.9, health) == []
    assert s.next_due(health) == 15.0
    assert [t.kind for t in s.due(30.0, health)] == ["options", "media"]  # media first due at 30 s


def test_suspect_gets_confirmation_probes_at_the_confirm_interval() -> None:
    s = ProbeScheduler([SPEC], start=0.0)
    health = {"p1": TrunkHealth("p1", "primary")}
    s.due(0.0, health)
    health["p1"] = TrunkHealth("p1", "primary", TrunkState.SUSPECT, since=0.5)
    sent = []
    t = 0.5
    while t < 2.5:
        sent += [(round(t, 2), task.seq) for task in s.due(t, health) if task.kind == "confirm"]
        t = max(s.next_due(health), t + 1e-9)
    assert [seq for _, seq in sent] == list(range(2, 12))  # 10 confirmations: 11 in flight in all
    assert sent[0][0] == 0.5 and abs(sent[-1][0] - 1.4) < 1e-6
    assert s.next_due(health) == 15.0  # enough in flight to confirm: no more until some finish


def test_finished_probes_free_room_for_more_confirmations() -> None:
    s = ProbeScheduler([SPEC], start=0.0)
    health = {"p1": TrunkHealth("p1", "primary", TrunkState.SUSPECT, since=1.0)}
    tasks = s.due(1.0, health)
    for t in (1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0):
        tasks += s.due(t, health)
    assert len(tasks) == 11  # one regular probe (due at 0) and ten confirmations
    s.finished("p1", tasks[0].seq)
    assert [t.kind for t in s.due(2.1, health)] == ["confirm"]
