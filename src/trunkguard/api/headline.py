"""What a person must know first, in words: where calls go, whether anyone must act, and the time
context (how long on the secondary, when cooling ends, who was paged and who acknowledged).

Built from the published `StatusView` (never the runtime's parts), for the dashboard's header and
`trunkguard status`. `level` is ok, warning or critical: the page's colour and the order of the lines.
"""

from __future__ import annotations

from typing import Any

from trunkguard.core.failover import PairState
from trunkguard.core.wording import format_duration
from trunkguard.runtime.status import StatusView

OBSERVE_MODE = "observe mode: nothing is written to the platform"  # the header's words while observing


def _ago(seconds: float) -> str:
    """`12 min`, `45 s`, `2 h 5 min`: a span for a person, not for the config."""
    s = int(max(0.0, seconds))
    if s < 90:
        return f"{s} s"
    if s < 5400:
        return f"{round(s / 60)} min"
    return f"{s // 3600} h {round(s % 3600 / 60)} min"


def headline(status: StatusView, group: str | None = None) -> dict[str, Any]:
    """The header for routing group `group` (None: the first, whose pair is `status.pair`): its pair,
    chain and policy; the store, the lease and the notifications are the deployment's. With several
    groups, where calls go names the group. KeyError for a group the view does not have."""
    views = status.group_views()
    g = views[0] if group is None else next((v for v in views if v.name == group), None)
    if g is None:
        raise KeyError(group)
    snap, policy, now = g.pair, g.policy, status.at
    trunk_group = status.groups.get(snap.active, f"not in the config: {snap.active}")
    usable = {c.role: c.usable for c in status.carriers}
    calls = f"Calls go to the {snap.active} carrier ({trunk_group})"
    if len(views) > 1:
        calls = f"Group {g.name}: calls go to the {snap.active} carrier ({trunk_group})"
    if policy.observe:  # what trunkguard says it would do, it does not do: the header must say so
        calls += f"; {OBSERVE_MODE}"
    if snap.in_flight is not None:
        calls += f"; moving them to the {snap.in_flight.to} carrier now"
    act: list[tuple[str, str]] = []  # (level, sentence)
    if not status.store_ok:
        act.append(("critical", "The store does not answer: trunkguard cannot act until it does (it still probes "
                                "and pages)."))
    chain = list(g.chain)  # the group's carriers in chain order
    if all(usable.get(c, 0) == 0 for c in chain):
        every = "BOTH CARRIERS ARE" if len(chain) == 2 else "EVERY CARRIER IS"
        act.append(("critical", f"{every} UNUSABLE: calls fail whichever way they are routed. Call "
                                f"{'both' if len(chain) == 2 else 'the'} carriers; see the trunks below for why."))
    elif snap.active != chain[-1] and usable.get(snap.active, 0) == 0 and snap.in_flight is None \
            and snap.state is not PairState.ACTIVATING:
        act.append(("critical", f"The {snap.active} carrier is down and calls still go to it: "
                                f"{g.last_sentence}. Force a failover if the next carrier can take them."))
    if snap.queued_since is not None and snap.in_flight is None and snap.state is PairState.ACTIVATING:
        calls_now = g.calls if status.routing_groups else status.calls  # the group's own breaker's count
        count = "an unknown number of" if calls_now is None else str(calls_now)
        act.append(("warning", f"A failover is queued for {_ago(now - snap.queued_since)}: {count} live calls, and "
                               f"the breaker allows fewer than {policy.max_active_calls}. It runs by itself when "
                               "calls drop; force it or cancel it."))
    if snap.state is PairState.FAILBACK_PENDING and policy.failback_mode == "approval" and snap.approval is None:
        act.append(("warning", "The primary has recovered: failback waits for your approval."))
    if snap.paused is not None:
        act.append(("warning", f"Automatic actions are paused by {snap.paused.who} ({snap.paused.why}): nothing "
                               "moves by itself."))
    if policy.observe:
        act.append(("warning", "OBSERVE MODE: trunkguard decides and pages but writes nothing to the platform."))
    if not status.leader:
        act.append(("info", "This replica is standby: another one acts (its page is the one to use)."))
    level = "critical" if any(lv == "critical" for lv, _ in act) else "warning" if any(
        lv == "warning" for lv, _ in act) else "ok"
    context: list[str] = []
    if snap.active != chain[0]:
        activated = snap.activated_at if snap.activated_at is not None else snap.since
        context.append(f"on the {snap.active} for {_ago(now - activated)}")
        cooling = activated + policy.cooling_period - now
        if cooling > 0:
            context.append(f"cooling ends in {_ago(cooling)} (no return before)")
    else:
        context.append(f"{snap.state.value.replace('_', ' ')} for {_ago(now - snap.since)}")
    sent = status.facts.notifications.get("sent", {})
    paged = sum(sent.values()) if isinstance(sent, dict) else 0
    if snap.acked is not None:
        context.append(f"acknowledged by {snap.acked.who} {_ago(now - snap.acked.at)} ago ({snap.acked.why})")
    elif snap.alerted:
        context.append(f"paged ({', '.join(sorted(snap.alerted))}), not acknowledged")
    if paged:
        context.append(f"{paged} notifications sent")
    return {"level": level, "calls": calls, "act": [{"level": lv, "sentence": s} for lv, s in act]
            or [{"level": "ok", "sentence": "No action needed."}], "context": context,
            "cooling_period": format_duration(policy.cooling_period)}
