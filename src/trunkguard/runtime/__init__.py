"""The running service: small parts around the one machine (`core/machine.py`), each with one job.

- `loop`: feeds events to the machine, carries out its effects, publishes the status snapshot.
- `lease`: takes and renews the lease on the store; says when leadership changes.
- `recorder`: the audit trail, the pair snapshot and the event trace, written in fenced batches.
- `probes`: sends the probes the machine asks for and keeps their samples (RTT history).
- `pollers`: active calls, the platform's edge view, the stored check results, the re-checks.
- `actuator`: the one owner of the swap protocol (intent, write, read back, outcome) and of the
  reconciliation of an intent left in flight.
- `status`: the immutable snapshot the API, `/metrics`, the CLI and the demo read.
`trunkguard/app.py` wires them from a config.
"""
