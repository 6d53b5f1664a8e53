"""The runtime's parts, as the composition root (app.py) builds them, or a test with fakes."""

from __future__ import annotations

from dataclasses import dataclass

from trunkguard.notify import Dispatcher
from trunkguard.runtime.actuator import Actuator
from trunkguard.runtime.alerts import Alerts
from trunkguard.runtime.lease import LeaseKeeper
from trunkguard.runtime.pollers import Pollers
from trunkguard.runtime.probes import ProbeRunner
from trunkguard.runtime.recorder import Recorder
from trunkguard.runtime.storelink import StoreLink


@dataclass
class Parts:
    link: StoreLink
    lease: LeaseKeeper
    alerts: Alerts
    recorder: Recorder
    probes: ProbeRunner
    pollers: Pollers
    actuator: Actuator
    dispatcher: Dispatcher

    async def close(self) -> None:
        """After the loop: store what is pending, stop probing and polling, give the lease up."""
        await self.recorder.flush()
        await self.probes.close()
        await self.pollers.close()
        await self.lease.release()
        self.link.close()
