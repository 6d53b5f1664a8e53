"""What a replica does on taking the lease, before the machine may act: restore each routing group's
stored snapshot, settle the swaps left in flight (by reading only), and read each group's routing
until the platform answers. The groups are taken over side by side: one group's slow platform does
not hold another's back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import replace

from trunkguard.core.events import Event, LeaseChanged
from trunkguard.core.failover import Notify, PairSnapshot
from trunkguard.core.machine import MachineRules
from trunkguard.runtime.actuator import Actuator
from trunkguard.runtime.parts import Parts
from trunkguard.runtime.routing import RoutingWatch
from trunkguard.store import IntentStatus, StoreError


async def take_over(parts: Parts, rules: MachineRules, term: int, stop: asyncio.Event,
                    post: Callable[[Event], None]) -> None:
    doing = "restoring the stored state after taking the lease"
    detail, awaits = f"took the lease with term {term}", bool(parts.watched())
    every = await parts.link.call(parts.link.store.load_snapshots, doing=doing)
    named = {g.name for g in rules.groups}
    stored = {name: snap for name, snap in every.items() if name in named}
    if len(rules.groups) == 1:  # the one group's snapshot, as it was stored before groups
        post(LeaseChanged(True, stored.get(rules.groups[0].name), detail, await_routing=awaits))
    else:
        post(LeaseChanged(True, None, detail, await_routing=awaits,
                          restored_groups=tuple((g.name, stored[g.name]) for g in rules.groups if g.name in stored)))
    await asyncio.gather(*(_read_routing(actuator, watch, term, stored.get(actuator.group), stop, post)
                           for actuator, watch in parts.watched()))
    with contextlib.suppress(StoreError):  # advice only, after what acting needs: the link has paged the store
        await _left_behind(parts, sorted(set(every) - named), named)


async def _left_behind(parts: Parts, unknown: list[str], named: set[str]) -> None:
    """Groups the store keeps and the config no longer has (a group renamed, a config moved to `groups:`):
    their swaps in flight can never be settled here and their routing is nobody's now. Paged, not
    touched: a person decides (rename the group back, or settle it by hand)."""
    actuators = list(parts.actuators().values())
    if not actuators:
        return  # no platform: nothing of any group's is written from here
    link = actuators[0].link
    pending = await link.call(link.store.intents, status=IntentStatus.PENDING,
                              doing="reading the swaps in flight after taking the lease")
    stranded = sorted({i.group for i in pending if i.group not in named})
    gone = sorted(set(unknown) | set(stranded))
    if gone:
        flight = f"; swaps still in flight there: {', '.join(stranded)}" if stranded else ""
        parts.alerts.notify(Notify("groups_left_behind", "warning", f"the store keeps routing groups the config does "
                                   f"not have ({', '.join(gone)}){flight}: trunkguard no longer watches their routing; "
                                   "name them in groups: again, or settle their routing by hand"))


async def _read_routing(actuator: Actuator, watch: RoutingWatch, term: int, restored: PairSnapshot | None,
                        stop: asyncio.Event, post: Callable[[Event], None]) -> None:
    """A group's swap left in flight settled, then its routing read until the platform answers."""
    if await actuator.reconcile(term, restored, stop):
        read = await watch.at_start(stop)  # retried, paged, until the platform answers
        if read is not None:  # with a stored state, a difference is a change made behind trunkguard's back
            post(replace(read, hold=restored is not None))
