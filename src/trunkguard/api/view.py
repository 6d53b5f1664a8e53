"""The status as JSON, from the published `StatusView`, sized for thousands of trunks.

`GET /api/v1/status` without filters gives the summary (the pair, each carrier's counts by state,
what was read from the platform, the header in words) and every trunk's state in a compact entry;
the trunks that are not UP (or not usable) come in full, with their last `PROBLEM_SAMPLES` RTT
samples, at most `PROBLEM_TRUNKS` a carrier (the counts say how many more). Filters:

- `carrier=primary|secondary`: that carrier only;
- `trunk=NAME`: that trunk only, in full, with its RTT history (`KEEP_VIEW` samples);
- `samples=N` (0..60): every trunk selected in full, with its last N samples;
- `problems=1`: only the trunks that are not UP or not usable, all of them, in full;
- `group=NAME`: routing group NAME's view: its chain's carriers only, and the pair fields (state,
  active, in flight, approval, pause, headline, readiness, last sentence) are that group's.

Every status has `groups`: each routing group at a glance (one, `default`, for a config without
`groups:`), with its own headline; the top-level pair fields are the first group's without `group=`.

Measured at 1,000 trunks per carrier (bench/scale.py): see the README's scale table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from trunkguard.api.headline import headline
from trunkguard.core.health import TrunkHealth, TrunkState
from trunkguard.moments import iso
from trunkguard.runtime.status import KEEP_VIEW, GroupView, StatusView, trunk_view

PROBLEM_TRUNKS = 50   # trunks shown in full per carrier without filters (the rest are counted)
PROBLEM_SAMPLES = 10  # their samples


@dataclass(frozen=True)
class StatusQuery:
    """`?carrier=&trunk=&samples=&problems=1&group=`, checked."""

    carrier: str | None = None
    trunk: str | None = None
    samples: int | None = None
    problems: bool = False
    group: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str], view: StatusView) -> StatusQuery | str:
        """The query, or the reason it is not one (for a 400)."""
        group = params.get("group")
        chain: tuple[str, ...] | None = None
        if group is not None:
            found = find_group(view, group)
            if isinstance(found, str):
                return found
            chain = found.chain
        carrier = params.get("carrier")
        if carrier is not None and carrier not in view.groups:
            return f"carrier must be one of {', '.join(view.groups)}, not {carrier!r}"
        if carrier is not None and chain is not None and carrier not in chain:
            return f"carrier {carrier!r} is not in group {group}'s chain ({', '.join(chain)})"
        trunk = params.get("trunk")
        if trunk is not None and trunk not in view.index:
            return f"trunk {trunk!r} is not a configured trunk"
        if trunk is not None and chain is not None and view.trunks[view.index[trunk]].carrier not in chain:
            return f"trunk {trunk!r} is not a trunk of group {group}'s carriers ({', '.join(chain)})"
        samples: int | None = None
        text = params.get("samples")
        if text is not None:
            if not (text.isascii() and text.isdigit()) or int(text) > KEEP_VIEW:
                return f"samples must be a whole number from 0 to {KEEP_VIEW}, not {text!r}"
            samples = int(text)
        problems = params.get("problems", "0")
        if problems not in ("0", "1"):
            return f"problems must be 0 or 1, not {problems!r}"
        return cls(carrier, trunk, samples, problems == "1", group)


def group_names(view: StatusView) -> list[str]:
    """The view's routing groups' names, in config order."""
    return [g.name for g in view.group_views()]


def find_group(view: StatusView, name: str | None) -> GroupView | str:
    """Routing group `name` of the view (None: the only one), or why there is none to take (for a 400)."""
    views = view.group_views()
    names = ", ".join(g.name for g in views)
    if name is None:
        if len(views) == 1:
            return views[0]
        return f"group is required: this deployment has {len(views)} routing groups ({names})"
    found = next((g for g in views if g.name == name), None)
    if found is None:
        return f"group must be one of this deployment's routing groups ({names}), not {name!r}"
    return found


trunk_json = trunk_view  # one trunk in full: the same shape as in a decision's evidence


def _problem(h: TrunkHealth) -> bool:
    """Not UP, not usable, or one of its addresses not answering: shown in full."""
    return h.state is not TrunkState.UP or not h.usable or any(t.state is not TrunkState.UP for t in h.targets)


def carriers_json(view: StatusView, query: StatusQuery = StatusQuery()) -> dict[str, Any]:
    """Each carrier's summary and its trunks, as the query asks (with `group`, that group's chain's only)."""
    out: dict[str, Any] = {}
    chain = None if query.group is None else next((g.chain for g in view.group_views() if g.name == query.group), ())
    for c in view.carriers:
        if query.carrier is not None and c.role != query.carrier:
            continue
        if chain is not None and c.role not in chain:
            continue
        if query.trunk is not None and view.trunks[view.index[query.trunk]].carrier != c.role:
            continue
        entry = c.as_json()
        trunks: list[dict[str, Any]] = []
        shown = 0
        for h in view.trunks:
            if h.carrier != c.role or (query.trunk is not None and h.name != query.trunk):
                continue
            problem = _problem(h)
            if query.problems and not problem:
                continue
            if query.trunk is not None:
                trunks.append(trunk_json(h, view.samples, KEEP_VIEW if query.samples is None else query.samples))
            elif query.samples is not None or query.problems:
                trunks.append(trunk_json(h, view.samples, PROBLEM_SAMPLES if query.samples is None else query.samples))
            elif problem and shown < PROBLEM_TRUNKS:
                shown += 1
                trunks.append(trunk_json(h, view.samples, PROBLEM_SAMPLES))
            else:
                trunks.append({"name": h.name, "state": h.state.value}
                              if not problem else {"name": h.name, "state": h.state.value, "usable": h.usable})
        entry["trunks"] = trunks
        out[c.role] = entry
    return out


def pair_json(view: StatusView) -> dict[str, Any]:
    """The pair's part of the status: what the store's snapshot holds too."""
    snap, policy = view.pair, view.policy
    queued = None
    if snap.queued_since is not None and snap.in_flight is None:
        queued = {"since": snap.queued_since, "waited_s": round(view.at - snap.queued_since, 1),
                  "escalated": snap.escalated, "active_calls": view.calls, "max_active_calls": policy.max_active_calls}
    flight = snap.in_flight
    return {
        "mode": "observe" if policy.observe else "act",
        "state": snap.state.value, "active": snap.active,
        "active_trunk_group": view.groups[snap.active], "since": snap.since,
        "in_flight": None if flight is None else {"to": flight.to, "key": flight.key, "reason": flight.reason},
        "queued_activation": queued,
        "pending_approval": snap.state.value == "failback_pending" and policy.failback_mode == "approval"
        and snap.approval is None,
        "approval": None if snap.approval is None else {"who": snap.approval.who, "why": snap.approval.why},
        "paused": None if snap.paused is None else {"who": snap.paused.who, "why": snap.paused.why},
        "maintenance": [{"trunk": m.trunk, "who": m.who, "why": m.why, "until": m.until} for m in snap.maintenance],
        "swaps": snap.swaps,
        "acked": None if snap.acked is None else {"who": snap.acked.who, "why": snap.acked.why, "at": snap.acked.at},
    }


def groups_json(view: StatusView) -> list[dict[str, Any]]:
    """Each routing group at a glance, in config order (one, `default`, without `groups:`): where its
    calls go, its state, the swap it has in flight, who paused it, and its own headline."""
    out: list[dict[str, Any]] = []
    for g in view.group_views():
        snap = g.pair
        flight = snap.in_flight
        out.append({"name": g.name, "chain": list(g.chain), "active": snap.active, "state": snap.state.value,
                    "since": snap.since, "in_flight": None if flight is None else {"to": flight.to, "key": flight.key},
                    "paused_by": None if snap.paused is None else snap.paused.who, "routing_read": g.routing_read,
                    "last_sentence": g.last_sentence, "swaps": snap.swaps, "headline": headline(view, g.name)})
    return out


def group_status(view: StatusView, name: str) -> StatusView:
    """The view with routing group `name`'s pair, policy, readiness, routing read, last sentence and calls as its
    top-level ones (its `routing_groups` unchanged). KeyError for a group it does not have."""
    g = view.group(name)
    if g is None:
        raise KeyError(name)
    facts = view.facts
    if name in facts.routings:
        facts = replace(facts, routing=facts.routings[name])
    return replace(view, pair=g.pair, policy=g.policy, readiness=g.readiness, routing_read=g.routing_read,
                   last_sentence=g.last_sentence, facts=facts, calls=g.calls, calls_detail=g.calls_detail)


def status_json(view: StatusView, query: StatusQuery = StatusQuery()) -> dict[str, Any]:
    """The status document (`GET /api/v1/status`, the dashboard's `status` event, `trunkguard status`):
    the first routing group's pair at the top level, or with `query.group` that group's."""
    groups = groups_json(view)
    if query.group is not None:
        view = group_status(view, query.group)
    policy, facts, r = view.policy, view.facts, view.readiness
    roll = facts.roll
    return {
        **pair_json(view),
        "leader": facts.leader, "term": facts.term, "store_ok": facts.store_ok,
        "active_calls": view.calls, "edge_view": dict(view.edge_view),
        "routing": None if facts.routing is None else dict(facts.routing),
        "routing_read": view.routing_read,
        "readiness": {"sweep_ok": r.sweep_ok, "certs_ok": r.certs_ok, "parity_ok": r.parity_ok, "notes": dict(r.notes),
                      "gates": sorted(policy.gates),
                      "not_configured": {gate: f"not configured ({why})" for gate, why in policy.unconfigured}},
        "last_sentence": view.last_sentence,
        "carriers": carriers_json(view, query),
        "notifications": dict(facts.notifications),
        "replica": None if facts.me is None else {"name": facts.me.name, "holder": facts.me.holder},
        "lease": {"holder": roll.leader, "term": roll.term, "left_s": roll.lease_left, "released": roll.released},
        "replicas": [m.as_json() for m in roll.members],
        "vantages": None if view.vantages is None else dict(view.vantages),
        "headline": headline(view, query.group),
        "groups": groups,
        "published_at": view.at,
    }


def stored_status_json(view: StatusView, *, lease: Mapping[str, Any] | None, members: list[dict[str, Any]],
                       headline: dict[str, Any], group: str | None = None,
                       headlines: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The status with the same keys as `status_json`, from what the store last recorded: `view` holds the
    stored pairs (its routing groups; and no trunk: nobody probes while the daemon is away); `lease` and
    `members` as the store reads them; `headline` (and each group's in `headlines`) says that this is
    the store's record; `group`: that group's pair at the top level. What only the running daemon
    knows (each trunk, the platform's routing, the readiness results, calls) is empty or null."""
    data = status_json(view, StatusQuery(group=group))
    for entry in data["groups"]:
        entry["routing_read"] = False
        if headlines is not None and entry["name"] in headlines:
            entry["headline"] = headlines[entry["name"]]
    data.update(carriers={}, routing_read=False, headline=headline, replicas=[
        {k: m[k] for k in ("name", "kind", "holder", "host", "pid", "age_s", "started_at", "view")} for m in members],
        lease=None if lease is None else {  # a holder while held, as the daemon reads it (vantages.Roll)
            "holder": lease["holder"] if lease["left_s"] > 0 and not lease["released"] else None,
            "term": lease["term"], "left_s": lease["left_s"], "released": lease["released"]})
    return data


HISTORY_PATH = "/api/v1/history"


def history_json(rows: list[dict[str, Any]], total: int, *, limit: int, page: int | None,
                 since: float | None, group: str | None = None) -> dict[str, Any]:
    """One page of the history (`GET /api/v1/history`, `trunkguard history --json`) from the store's
    `history_page` (page 1, the newest, when `page` is None; of routing group `group`, None: of every
    group): how many pages and decisions there are, and the links to the older (`next`) and newer
    (`previous`) pages. A link gives `since` as the moment it was taken to be (`since=2h` once read
    stays that moment), and the group when one was asked for."""
    pages = max(1, -(-total // limit))
    number = 1 if page is None else page
    fixed = {**({} if group is None else {"group": group}), **({} if since is None else {"since": iso(since)})}

    def link(to: int) -> str:
        return f"{HISTORY_PATH}?{urlencode({**fixed, 'limit': str(limit), 'page': str(to)})}"
    return {"decisions": rows, "since": since, "page": number, "pages": pages, "page_size": limit, "total": total,
            "next": link(number + 1) if number < pages else None,
            "previous": link(min(number, pages + 1) - 1) if number > 1 else None}


def summary_json(view: StatusView) -> dict[str, Any]:
    """The status without any trunk (for the event stream: trunks go as changes)."""
    data = status_json(view, StatusQuery(problems=True))
    for carrier in data["carriers"].values():
        carrier.pop("trunks")
    return data


def changed_trunks(before: StatusView | None, view: StatusView) -> list[dict[str, Any]]:
    """The trunks whose health differs from `before` (every trunk when there is none), compact unless not UP.
    The machine shares unchanged trunks between states, so this is an identity test per trunk."""
    if before is None or len(before.trunks) != len(view.trunks):
        return [_entry(h, view) for h in view.trunks]
    return [_entry(h, view) for old, h in zip(before.trunks, view.trunks, strict=True) if old is not h]


def _entry(h: TrunkHealth, view: StatusView) -> dict[str, Any]:
    if _problem(h):
        return trunk_json(h, view.samples, PROBLEM_SAMPLES)
    return {"name": h.name, "carrier": h.carrier, "state": h.state.value}


__all__ = ["PROBLEM_SAMPLES", "PROBLEM_TRUNKS", "StatusQuery", "carriers_json", "changed_trunks", "find_group",
           "group_names", "group_status", "groups_json", "history_json", "pair_json", "status_json",
           "stored_status_json", "summary_json", "trunk_json"]
