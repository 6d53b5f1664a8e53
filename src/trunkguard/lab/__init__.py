"""The lab: simulated carriers on loopback for the demo, rehearsals and tests.

SIPp is the independent peer in tests; the lab responder exists for what Debian's SIPp cannot do
(TLS) and for switchable faults in drills. It is tested against the same probes as SIPp.
"""
