"""What a replica does on taking the lease, before the machine may act: restore each routing group's
stored snapshot, settle the swaps left in flight (by reading only), and read each group's routing
until the platform answers. The groups are taken over side by side: one group's slow platform does
not hold another's back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from trunkguard.core.events import Event, LeaseChanged
from trunkguard.core.failover import PairSnapshot
from trunkguard.core.machine import MachineRules
from trunkguard.runtime.actuator import Actuator
from trunkguard.runtime.parts import Parts
from trunkguard.runtime.routing import RoutingWatch


async def take_over(parts: Parts, rules: MachineRules, term: int, stop: asyncio.Event,
                    post: Callable[[Event], None]) -> None:
    doing = "restoring the stored state after taking the lease"
    detail, awaits = f"took the lease with term {term}", bool(parts.watched())
    if len(rules.groups) == 1:  # the one group's snapshot, as it was stored before groups
        restored = await parts.link.call(parts.link.store.load_snapshot, group=rules.groups[0].name, doing=doing)
        stored = {rules.groups[0].name: restored} if restored is not None else {}
        post(LeaseChanged(True, restored, detail, await_routing=awaits))
    else:
        stored = await parts.link.call(parts.link.store.load_snapshots, doing=doing)
        post(LeaseChanged(True, None, detail, await_routing=awaits,
                          restored_groups=tuple((g.name, stored[g.name]) for g in rules.groups if g.name in stored)))
    await asyncio.gather(*(_read_routing(actuator, watch, term, stored.get(actuator.group), stop, post)
                           for actuator, watch in parts.watched()))


async def _read_routing(actuator: Actuator, watch: RoutingWatch, term: int, restored: PairSnapshot | None,
                        stop: asyncio.Event, post: Callable[[Event], None]) -> None:
    """A group's swap left in flight settled, then its routing read until the platform answers."""
    if await actuator.reconcile(term, restored, stop):
        read = await watch.at_start(stop)  # retried, paged, until the platform answers
        if read is not None:  # with a stored state, a difference is a change made behind trunkguard's back
            post(replace(read, hold=restored is not None))
