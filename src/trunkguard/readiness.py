"""The secondary's readiness checks (DID sweep, certificates, profile parity), each storing its
result where the daemon's gates read them. The `sweep`, `certs` and `parity` commands, the demo,
the lab and the daemon's periodic re-checks (`policy.readiness.recheck_interval`,
`sweep_interval`) all run these."""

from __future__ import annotations

from typing import Any

from trunkguard.config import Config
from trunkguard.parity import differences
from trunkguard.probing.did_sweep import SweepResult, carrier_dids, sweep
from trunkguard.probing.tls_cert import CertReport, inspect_config
from trunkguard.sip.client import SipClient
from trunkguard.state import save_check


def save_sweep(cfg: Config, result: SweepResult) -> None:
    """Only the secondary's sweep opens or closes the gate; sweeping the primary is for information."""
    if result.carrier == "secondary":
        save_check(cfg, "sweep", result.passed, result.as_dict())


async def check_sweep(cfg: Config) -> SweepResult:
    carrier = cfg.carriers.secondary
    async with SipClient() as client:
        swept = await sweep(client, "secondary", carrier.trunks[0].sip_uri, carrier_dids(carrier, "secondary"),
                            cps=carrier.sweep.cps, concurrency=carrier.sweep.concurrency,
                            answer_timeout=carrier.sweep.timeout)
    save_sweep(cfg, swept)
    return swept


async def check_certs(cfg: Config) -> list[CertReport]:
    certs = await inspect_config(cfg)
    save_check(cfg, "certs", all(r.healthy(cfg.tls.warn_days) for r in certs),
               {"certs": [r.as_dict() for r in certs]})
    return certs


def check_parity(cfg: Config) -> list[dict[str, Any]]:
    """Raises ConfigError when a dids_file or profile cannot be read."""
    found = differences(cfg)
    save_check(cfg, "parity", not found, {"differences": found})
    return found


async def run_readiness(cfg: Config) -> dict[str, dict[str, Any]]:
    swept, certs, found = await check_sweep(cfg), await check_certs(cfg), check_parity(cfg)
    return {"sweep": {"ok": swept.passed, "answered": swept.ok, "total": swept.total, "seconds": swept.duration_s},
            "certs": {"ok": all(r.healthy(cfg.tls.warn_days) for r in certs), "checked": len(certs)},
            "parity": {"ok": not found, "differences": found}}
