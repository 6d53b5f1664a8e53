"""Run the secondary's readiness checks in one go (DID sweep, certificates, profile parity) and
store each result where the daemon's gates read them. The demo and the lab use it; the
`sweep`, `certs` and `parity` commands run the same checks one at a time."""

from __future__ import annotations

from typing import Any

from trunkguard.config import Config
from trunkguard.parity import differences
from trunkguard.probing.did_sweep import carrier_dids, sweep
from trunkguard.probing.tls_cert import inspect_config
from trunkguard.sip.client import SipClient
from trunkguard.state import save_check


async def run_readiness(cfg: Config) -> dict[str, dict[str, Any]]:
    carrier = cfg.carriers.secondary
    async with SipClient() as client:
        swept = await sweep(client, "secondary", carrier.trunks[0].sip_uri, carrier_dids(carrier, "secondary"),
                            cps=carrier.sweep.cps, concurrency=carrier.sweep.concurrency,
                            answer_timeout=carrier.sweep.timeout)
    save_check(cfg, "sweep", swept.passed, swept.as_dict())
    certs = await inspect_config(cfg)
    certs_ok = all(r.healthy(cfg.tls.warn_days) for r in certs)
    save_check(cfg, "certs", certs_ok, {"certs": [r.as_dict() for r in certs]})
    found = differences(cfg)
    save_check(cfg, "parity", not found, {"differences": found})
    return {"sweep": {"ok": swept.passed, "answered": swept.ok, "total": swept.total, "seconds": swept.duration_s},
            "certs": {"ok": certs_ok, "checked": len(certs)},
            "parity": {"ok": not found, "differences": found}}
