"""Reading the platform's routing, which is the truth about where calls go: on taking the lease, until
the platform answers (the machine acts on nothing before), and at each drift check, whose read counts
only if no swap began while it waited and it does not lag what trunkguard last wrote. Nothing here
writes; what the machine makes of a read (adopt, page, hold) is core/machine.py's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from trunkguard.actuation.base import Platform, PlatformError, RoutingState
from trunkguard.core.failover import Notify
from trunkguard.core.machine import Event, RoutingRead
from trunkguard.logs import fields
from trunkguard.runtime.actuator import Actuator

log = logging.getLogger("trunkguard")


class RoutingWatch:
    def __init__(self, platform: Platform, actuator: Actuator, groups: dict[str, str], deadline: float,
                 notify: Callable[[Notify], None], post: Callable[[Event], None], clock: Callable[[], float]) -> None:
        self.platform = platform
        self.actuator = actuator
        self.roles = {group: role for role, group in groups.items()}
        self.deadline = deadline
        self._notify = notify
        self._post = post
        self._clock = clock
        self.known = False  # read since taking the lease: the drift check waits for it

    def _read(self, routing: RoutingState, when: str, *, hold: bool = False) -> RoutingRead:
        self.actuator.note_routing(routing)
        role = self.roles.get(routing.trunk_group_id)
        return RoutingRead(role,
                           f"{routing.rule_id} version {routing.version} routes to {routing.trunk_group_id}", when,
                           hold=hold, group=self.actuator.group)

    async def at_start(self, stop: asyncio.Event, when: str = "read at start-up") -> RoutingRead | None:
        """The platform's routing, read until it answers (None: stopped first). Until then the machine does
        not act; the first failure is paged, and the recovery logged."""
        failed_at: float | None = None
        while not stop.is_set():
            try:
                async with asyncio.timeout(self.deadline):
                    routing = await self.platform.read_routing()
            except (PlatformError, TimeoutError) as exc:
                if failed_at is None:
                    failed_at = self._clock()
                    self._notify(Notify("platform_unreachable", "critical",
                                        f"cannot read the platform's routing after taking the lease: "
                                        f"{exc or 'no answer'}; not acting until it answers",
                                        self.actuator.group))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)
                continue
            self.known = True
            if failed_at is not None:
                took = self._clock() - failed_at
                log.info("the platform's routing was read after %.0f s of trying", took,
                         extra=fields("routing_read_after_failures", seconds=round(took, 1)))
            return self._read(routing, when)
        return None

    async def check_drift(self) -> None:
        """The drift check: read the routing once (not while a swap is being carried out or recorded) and tell
        the machine; a difference from what trunkguard last wrote is adopted, paged and held, never undone."""
        actuator = self.actuator
        if actuator.stopping or not self.known or actuator.busy():
            return
        begun = actuator.started
        try:
            async with asyncio.timeout(self.deadline):
                routing = await self.platform.read_routing()
        except (PlatformError, TimeoutError) as exc:
            log.warning("drift check: cannot read the platform's routing: %s", exc or "no answer",
                        extra=fields("routing_read_failed", error=str(exc) or "no answer"))
            return
        last = actuator.routing()
        lagging = last is not None and routing.version < int(last["version"])  # eventual consistency
        if actuator.started != begun or actuator.busy() or lagging:
            return  # a swap began meanwhile, or the read lags what trunkguard wrote
        self._post(self._read(routing, "drift check", hold=True))
