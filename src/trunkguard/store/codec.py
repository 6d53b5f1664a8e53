"""The decision core's frozen snapshot to and from plain JSON, for the `pair_state` row."""

from __future__ import annotations

from typing import Any

from trunkguard.core.failover import OperatorAction, PairSnapshot, PairState, Role, Swap


def snapshot_to_json(snap: PairSnapshot) -> dict[str, Any]:
    return {"state": snap.state.value, "active": snap.active.value, "since": snap.since,
            "in_flight": _swap_json(snap.in_flight), "queued_since": snap.queued_since, "escalated": snap.escalated,
            "activated_at": snap.activated_at, "primary_ok_since": snap.primary_ok_since,
            "approval": _action_json(snap.approval), "paused": _action_json(snap.paused), "swaps": snap.swaps,
            "alerted": sorted(snap.alerted)}


def snapshot_from_json(data: dict[str, Any]) -> PairSnapshot:
    return PairSnapshot(state=PairState(data["state"]), active=Role(data["active"]), since=float(data["since"]),
                        in_flight=_swap(data.get("in_flight")), queued_since=data.get("queued_since"),
                        escalated=bool(data.get("escalated")), activated_at=data.get("activated_at"),
                        primary_ok_since=data.get("primary_ok_since"), approval=_action(data.get("approval")),
                        paused=_action(data.get("paused")), swaps=int(data.get("swaps", 0)),
                        alerted=frozenset(data.get("alerted", ())))


def _swap_json(swap: Swap | None) -> dict[str, Any] | None:
    if swap is None:
        return None
    return {"to": swap.to.value, "trigger": swap.trigger, "reason": swap.reason, "key": swap.key,
            "requested_at": swap.requested_at}


def _swap(data: dict[str, Any] | None) -> Swap | None:
    if not data:
        return None
    return Swap(Role(data["to"]), data["trigger"], data["reason"], data["key"], float(data["requested_at"]))


def _action_json(action: OperatorAction | None) -> dict[str, Any] | None:
    if action is None:
        return None
    return {"kind": action.kind, "who": action.who, "why": action.why, "at": action.at}


def _action(data: dict[str, Any] | None) -> OperatorAction | None:
    if not data:
        return None
    return OperatorAction(data["kind"], data["who"], data["why"], float(data["at"]))
