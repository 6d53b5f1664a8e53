"""The runtime's parts, as the composition root (app.py) builds them, or a test with fakes. A vantage
agent has no platform: no pollers and no actuator (it never holds the lease, so never acts)."""

from __future__ import annotations

from dataclasses import dataclass

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

    def facts(self, now: float, leader: bool, decisions: int, cycles: int) -> Facts:
        """The parts' own facts for the status snapshot (`leader`: the machine's word for it)."""
        term = self.lease.current()
        return Facts(term.term, term.held(now) and leader, self.alerts.store_healthy(),
                     self.actuator.routing() if self.actuator is not None else None, self.dispatcher.counts(),
                     decisions, cycles, self.vantages.roll(), self.lease.identity)

    async def close(self) -> None:
        """After the loop: store what is pending, stop probing and polling, give the lease up."""
        if self.actuator is not None:
            await self.actuator.drain()
        await self.recorder.flush()
        await self.probes.close()
        if self.pollers is not None:
            await self.pollers.close()
        await self.lease.release()
        await self.vantages.leave()
        self.link.close()
