"""The secondary's readiness checks (DID sweep, certificates, profile parity), each storing its
result where the daemon's gates read them. The `sweep`, `certs` and `parity` commands, the demo,
the lab and the daemon's periodic re-checks (`policy.readiness.recheck_interval`,
`sweep_interval`) all run these."""

from __future__ import annotations

from typing import Any

from trunkguard.config import Config
from trunkguard.parity import differences
from trunkguard.probing.did_sweep import carrier_dids, sweep
from trunkguard.probing.tls_cert import inspect_config
from trunkguard.sip.client import SipClient
from trunkguard.state import save_check


async def check_sweep(cfg: Config) -> dict[str, Any]:
    carrier = cfg.carriers.secondary
    async with SipClient() as client:
        swept = await sweep(client, "secondary", carrier.trunks[0].sip_uri, carrier_dids(carrier, "secondary"),
                            cps=carrier.sweep.cps, concurrency=carrier.sweep.concurrency,
                            answer_timeout=carrier.sweep.timeout)
    save_check(cfg, "sweep", swept.passed, swept.as_dict())
    return {"ok": swept.passed, "answered": swept.ok, "total": swept.total, "seconds": swept.duration_s}


async def check_certs(cfg: Config) -> dict[str, Any]:
    certs = await inspect_config(cfg)
    ok = all(r.healthy(cfg.tls.warn_days) for r in certs)
    save_check(cfg, "certs", ok, {"certs": [r.as_dict() for r in certs]})
    return {"ok": ok, "checked": len(certs)}


def check_parity(cfg: Config) -> dict[str, Any]:
    found = differences(cfg)
    save_check(cfg, "parity", not found, {"differences": found})
    return {"ok": not found, "differences": found}


async def run_readiness(cfg: Config) -> dict[str, dict[str, Any]]:
    return {"sweep": await check_sweep(cfg), "certs": await check_certs(cfg), "parity": check_parity(cfg)}
