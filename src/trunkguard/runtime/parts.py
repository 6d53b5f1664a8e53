"""The runtime's parts, as the composition root (app.py) builds them, or a test with fakes. A vantage
agent has no platform: no pollers and no actuator (it never holds the lease, so never acts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from trunkguard.notify import Dispatcher
from trunkguard.runtime.actuator import Actuator
from trunkguard.runtime.alerts import Alerts
from trunkguard.runtime.lease import LeaseKeeper
from trunkguard.runtime.pollers import Pollers
from trunkguard.runtime.probes import ProbeRunner
from trunkguard.runtime.recorder import Recorder
from trunkguard.runtime.routing import RoutingWatch
from trunkguard.runtime.status import Facts
from trunkguard.runtime.storelink import StoreLink
from trunkguard.runtime.vantages import VantageLink
from trunkguard.store import AuditStore


@dataclass
class Parts:
    link: StoreLink[AuditStore]
    lease: LeaseKeeper
    alerts: Alerts
    recorder: Recorder
    probes: ProbeRunner
    pollers: Pollers | None
    actuator: Actuator | None
    dispatcher: Dispatcher
    vantages: VantageLink
    routing: RoutingWatch | None = None  # with a platform: its routing read on taking the lease and for drift
    # With routing groups: each group's actuator and routing watch by name (`actuator` and `routing` are the
    # first group's); empty: the one group above, alone.
    groups: Mapping[str, tuple[Actuator, RoutingWatch]] = field(default_factory=dict)

    def actuators(self) -> dict[str, Actuator]:
        """Every group's actuator, by group name."""
        if self.groups:
            return {name: a for name, (a, _) in self.groups.items()}
        return {self.actuator.group: self.actuator} if self.actuator is not None else {}

    def watched(self) -> list[tuple[Actuator, RoutingWatch]]:
        """Every group's actuator with its routing watch."""
        if self.groups:
            return list(self.groups.values())
        return [(self.actuator, self.routing)] if self.actuator is not None and self.routing is not None else []

    def facts(self, now: float, leader: bool, decisions: int, cycles: int) -> Facts:
        """The parts' own facts for the status snapshot (`leader`: the machine's word for it)."""
        term = self.lease.current()
        return Facts(term.term, term.held(now) and leader, self.alerts.store_healthy(),
                     self.actuator.routing() if self.actuator is not None else None, self.dispatcher.counts(),
                     decisions, cycles, self.vantages.roll(), self.lease.identity,
                     {name: a.routing() for name, (a, _) in self.groups.items()})

    async def close(self) -> None:
        """After the loop: store what is pending, stop probing and polling, give the lease up."""
        for actuator in self.actuators().values():
            await actuator.drain()
        await self.recorder.flush()
        await self.probes.close()
        if self.pollers is not None:
            await self.pollers.close()
        await self.lease.release()
        await self.vantages.leave()
        self.link.close()
