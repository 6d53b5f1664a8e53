"""What the engine shows: its status (the API, the CLI, the dashboard) and the evidence stored
with each decision (the trunks' states and the probe samples behind them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trunkguard.core.failover import Role
from trunkguard.core.health import TrunkHealth

if TYPE_CHECKING:
    from trunkguard.engine.daemon import Engine

KEEP_VIEW = 60  # samples per trunk shown in status (the RTT history)


def status(e: Engine) -> dict[str, Any]:
    snap = e.pair
    queued = None
    if snap.queued_since is not None and snap.in_flight is None:
        queued = {"since": snap.queued_since, "waited_s": round(e.clock() - snap.queued_since, 1),
                  "escalated": snap.escalated, "active_calls": e.calls, "max_active_calls": e.rules.max_active_calls}
    flight = snap.in_flight
    return {
        "state": snap.state.value, "active": snap.active.value, "active_trunk_group": e.groups[snap.active],
        "since": snap.since,
        "in_flight": None if flight is None else {"to": flight.to.value, "key": flight.key, "reason": flight.reason},
        "queued_activation": queued,
        "pending_approval": snap.state.value == "failback_pending" and e.rules.failback_mode == "approval"
        and snap.approval is None,
        "approval": None if snap.approval is None else {"who": snap.approval.who, "why": snap.approval.why},
        "paused": None if snap.paused is None else {"who": snap.paused.who, "why": snap.paused.why},
        "swaps": snap.swaps, "leader": e.leader, "term": e.term, "store_ok": e.store_ok,
        "active_calls": e.calls, "edge_view": e.edge, "routing": e.routing, "last_sentence": e.last_sentence,
        "carriers": {role.value: {"trunk_group_id": e.groups[role],
                                  "trunks": [trunk_view(e, h) for h in e.health.values() if h.carrier == role.value]}
                     for role in Role},
        "notifications": {"pending": e.dispatcher.pending, "sent": dict(e.dispatcher.sent),
                          "failed": dict(e.dispatcher.failed), "dropped": e.dispatcher.dropped},
    }


def evidence(e: Engine) -> dict[str, Any]:
    """Stored with a decision: every trunk with its last 10 samples, the call count, the gates."""
    return {"trunks": [trunk_view(e, h, samples=10) for h in e.health.values()],
            "active_calls": e.calls, "active_calls_detail": e.calls_detail,
            "readiness": dict(vars(e.observation().readiness))}


def trunk_view(e: Engine, h: TrunkHealth, samples: int = KEEP_VIEW) -> dict[str, Any]:
    recent = list(e.probes.samples[h.name])[-samples:]
    return {"name": h.name, "carrier": h.carrier, "state": h.state.value, "since": h.since, "usable": h.usable,
            "consecutive_failures": len(h.failed), "last_code": h.last_code, "last_detail": h.last_detail,
            "media_ok": h.media_ok, "samples": [s.as_dict() for s in recent],
            "recent_failures": [s.as_dict() for s in e.probes.failures[h.name]]}
