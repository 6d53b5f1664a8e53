"""The decision core's frozen snapshot to and from plain JSON, for the `pair_state` row."""

from __future__ import annotations

from typing import Any

from trunkguard.core import machine as m
from trunkguard.core.events import TargetSeen
from trunkguard.core.failover import DEFAULT_GROUP, OperatorAction, PairSnapshot, PairState, Readiness, Swap
from trunkguard.core.vantage import VantageView


def snapshot_to_json(snap: PairSnapshot) -> dict[str, Any]:
    return {"state": snap.state.value, "active": snap.active, "since": snap.since,
            "in_flight": _swap_json(snap.in_flight), "queued_since": snap.queued_since, "escalated": snap.escalated,
            "activated_at": snap.activated_at, "ok_since": [list(c) for c in snap.ok_since],
            "approval": _action_json(snap.approval), "paused": _action_json(snap.paused), "swaps": snap.swaps,
            "alerted": sorted(snap.alerted), "maintenance": [_action_json(m) for m in snap.maintenance],
            "acked": _action_json(snap.acked)}


def snapshot_from_json(data: dict[str, Any]) -> PairSnapshot:
    return PairSnapshot(state=PairState(data["state"]), active=str(data["active"]), since=float(data["since"]),
                        in_flight=_swap(data.get("in_flight")), queued_since=data.get("queued_since"),
                        escalated=bool(data.get("escalated")), activated_at=data.get("activated_at"),
                        ok_since=_ok_since(data), approval=_action(data.get("approval")),
                        paused=_action(data.get("paused")), swaps=int(data.get("swaps", 0)),
                        alerted=frozenset(data.get("alerted", ())),
                        maintenance=tuple(a for a in (_action(m) for m in data.get("maintenance") or ()) if a),
                        acked=_action(data.get("acked")))


def _ok_since(data: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    """Each usable carrier since when; a snapshot stored before chains kept only the primary's."""
    if "ok_since" in data:
        return tuple((str(c), float(at)) for c, at in data["ok_since"])
    old = data.get("primary_ok_since")
    return () if old is None else (("primary", float(old)),)


def _swap_json(swap: Swap | None) -> dict[str, Any] | None:
    if swap is None:
        return None
    return {"to": swap.to, "trigger": swap.trigger, "reason": swap.reason, "key": swap.key,
            "requested_at": swap.requested_at, "up": swap.up}


def _swap(data: dict[str, Any] | None) -> Swap | None:
    if not data:
        return None
    up = bool(data["up"]) if "up" in data else data["to"] == "primary"  # stored before chains: only failbacks went up
    return Swap(str(data["to"]), data["trigger"], data["reason"], data["key"], float(data["requested_at"]), up)


def _action_json(action: OperatorAction | None) -> dict[str, Any] | None:
    if action is None:
        return None
    out: dict[str, Any] = {"kind": action.kind, "who": action.who, "why": action.why, "at": action.at}
    if action.trunk is not None:
        out.update(trunk=action.trunk, until=action.until)
    if action.skip:
        out["skip"] = list(action.skip)
    if action.to is not None:
        out["to"] = action.to
    if action.group != DEFAULT_GROUP:
        out["group"] = action.group
    return out


def _action(data: dict[str, Any] | None) -> OperatorAction | None:
    if not data:
        return None
    until = data.get("until")
    return OperatorAction(data["kind"], data["who"], data["why"], float(data["at"]), data.get("trunk"),
                          None if until is None else float(until), tuple(str(g) for g in data.get("skip") or ()),
                          None if data.get("to") is None else str(data["to"]),
                          str(data.get("group") or DEFAULT_GROUP))


# ---- the machine's events, for the trace -------------------------------------------------------

_EVENTS: dict[str, type[Any]] = {cls.__name__: cls for cls in (
    m.Tick, m.ProbeDone, m.ProbeLate, m.MediaDone, m.CallsRead, m.EdgeRead, m.ChecksRead, m.OperatorDid,
    m.SwapSettled, m.LeaseChanged, m.VantagesRead, m.RoutingRead)}


def event_to_json(event: m.Event) -> tuple[str, dict[str, Any]]:
    kind = type(event).__name__
    if isinstance(event, m.OperatorDid):
        return kind, {"action": _action_json(event.action)}
    if isinstance(event, m.LeaseChanged):
        return kind, {"leader": event.leader, "detail": event.detail,
                      "restored": None if event.restored is None else snapshot_to_json(event.restored),
                      **({"await_routing": True} if event.await_routing else {}),
                      **({"restored_groups": {g: snapshot_to_json(p) for g, p in event.restored_groups}}
                         if event.restored_groups else {})}
    if isinstance(event, m.ChecksRead):
        r = event.readiness
        named = {"carrier": event.carrier} if event.carrier != "secondary" else {}
        return kind, {**named, "sweep_ok": r.sweep_ok, "certs_ok": r.certs_ok, "parity_ok": r.parity_ok,
                      "notes": [list(n) for n in r.notes],
                      **({"sweep_ready": r.sweep_ready, "sweep_unready": list(r.sweep_unready)}
                         if r.sweep_ready is not None else {})}
    if isinstance(event, m.EdgeRead):
        return kind, {"view": [list(v) for v in event.view], "as_of": event.as_of}
    if isinstance(event, m.VantagesRead):
        return kind, {"views": [{"name": v.name, "at": v.at, **v.as_json()} for v in event.views]}
    data = dict(vars(event))
    if kind == "ProbeDone" and not data["targets"]:
        del data["targets"]  # an IP trunk's probe, as traces were before targets
    if kind in ("ProbeDone", "MediaDone") and not data["outcome"]:
        del data["outcome"]  # a simulated probe, as traces were before outcomes
    return kind, data


def event_from_json(kind: str, data: dict[str, Any]) -> m.Event:
    """Raises ValueError for a kind or field this version does not know."""
    cls = _EVENTS.get(kind)
    if cls is None:
        raise ValueError(f"unknown event kind {kind!r} in the trace")
    try:
        if cls is m.OperatorDid:
            action = _action(data["action"])
            assert action is not None
            return m.OperatorDid(action)
        if cls is m.LeaseChanged:
            restored = data.get("restored")
            return m.LeaseChanged(bool(data["leader"]), snapshot_from_json(restored) if restored else None,
                                  str(data.get("detail", "")), bool(data.get("await_routing", False)),
                                  tuple((str(g), snapshot_from_json(p))
                                        for g, p in (data.get("restored_groups") or {}).items()))
        if cls is m.ChecksRead:
            ready = data.get("sweep_ready")
            return m.ChecksRead(Readiness(data["sweep_ok"], data["certs_ok"], data["parity_ok"],
                                          tuple((str(a), str(b)) for a, b in data.get("notes", ())),
                                          sweep_ready=None if ready is None else float(ready),
                                          sweep_unready=tuple(str(d) for d in data.get("sweep_unready", ()))),
                                str(data.get("carrier", "secondary")))
        if cls is m.EdgeRead:
            return m.EdgeRead(tuple((str(role), seen) for role, seen in data["view"]), data.get("as_of"))
        if cls is m.VantagesRead:
            return m.VantagesRead(tuple(VantageView.from_json(str(v["name"]), float(v["at"]), v)
                                        for v in data["views"]))
        if cls is m.ProbeDone and data.get("targets"):
            targets = tuple(TargetSeen(str(t), bool(ok), str(d)) for t, ok, d in data["targets"])
            return m.ProbeDone(**{**data, "targets": targets})
        event: m.Event = cls(**data)
        return event
    except (KeyError, TypeError, AssertionError) as exc:
        raise ValueError(f"a {kind} event in the trace is not readable: {exc}") from None
