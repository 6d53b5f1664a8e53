"""Fakes of each seam, shipped with the package so the runtime's parts (and users' own extensions) can
be tested alone, without sleeps or a database: a store of every protocol in memory, a platform of
one routing object in memory, a clock moved by hand, and a SIP peer on loopback.

    from trunkguard.testing import ManualClock, MemoryPlatform, MemoryStore, SipPeer

The emulators of the real platforms' HTTP APIs (the generic contract, Genesys Cloud, CXone) are here
too (`trunkguard.testing.emulator`, `.genesys_emulator`, `.cxone_emulator`): the demo and the contract
suite stand on them.
"""

from trunkguard.lab.responder import SipResponder as SipPeer
from trunkguard.testing.clock import HeldLease, ManualClock
from trunkguard.testing.platform import MemoryPlatform
from trunkguard.testing.store import MemoryStore

__all__ = ["HeldLease", "ManualClock", "MemoryPlatform", "MemoryStore", "SipPeer"]
