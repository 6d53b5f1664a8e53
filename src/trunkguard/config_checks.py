"""The readiness checks as the config names them: the one place they read it. Each turns the config's
settings into the frozen values the checks take (the sweep's trunk, DIDs and expectation; the TLS
trunks; the carriers' profiles and signalling) and runs the check; the results are readiness.py's.
The commands (`sweep`, `certs`, `parity`), the daemon's re-checks (wired in app.py), `cycle` and the
demo all call these, so a check means the same wherever it runs."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from trunkguard.actuation.base import PlatformError, TrunkSettingsReader, TrunkSettingsUnreadable
from trunkguard.config import CarrierConfig, Config
from trunkguard.core.failover import Readiness
from trunkguard.errors import ConfigError
from trunkguard.parity import (
    PLATFORM_FIELDS,
    PROFILE_FIELDS,
    ROLES,
    Difference,
    _labels,
    against_profile,
    compare_trunk_bases,
    shown,
)
from trunkguard.probing.did_sweep import carrier_dids, sweep_trunk
from trunkguard.probing.expect import AnswerExpectation
from trunkguard.probing.tls_cert import inspect_trunks
from trunkguard.probing.tone import ToneExpectation
from trunkguard.readiness import (
    AnswersParity,
    CheckResult,
    certs_result,
    parity_live_result,
    parity_result,
    readiness_from,
    sweep_result,
)
from trunkguard.rules import max_ages, tls_files, tls_trunks
from trunkguard.sip.client import SipClient
from trunkguard.store import Store


def sweep_expectation(carrier: CarrierConfig) -> AnswerExpectation | None:
    """The sweep's `expect` as the probes take it (frozen values, patterns compiled): built here only."""
    expect = carrier.sweep.expect
    if expect is None:
        return None

    def pattern(value: str | None) -> re.Pattern[str] | None:
        return re.compile(value) if value is not None else None

    tone = ToneExpectation(expect.tone_hz, expect.tone_within) if expect.tone_hz is not None else None
    return AnswerExpectation(tone, pattern(expect.sdp_address), pattern(expect.contact), pattern(expect.server))


def _later(cfg: Config, carrier: str | None) -> str:
    """The carrier a readiness check is for: the one named, by default the second of the chain."""
    return carrier if carrier is not None else cfg.carriers.chain[1]


def sweep_dids(cfg: Config, name: str) -> list[str]:
    """The numbers the sweep calls through carrier `name`: its own `dids` (or `dids_file`), else, with
    routing groups, the DIDs of every group whose chain has it after the first (each once)."""
    carrier = cfg.carriers[name]
    served = [d for g in cfg.routing_groups() if name in g.chain[1:] for d in g.dids]
    if carrier.dids is None and carrier.dids_file is None and served:
        return list(dict.fromkeys(served))
    return carrier_dids(carrier.dids, carrier.dids_file, name)


async def check_sweep(cfg: Config, carrier_name: str | None = None) -> CheckResult:
    """The DID sweep through a carrier's first trunk (by default the chain's second carrier)."""
    name = _later(cfg, carrier_name)
    carrier = cfg.carriers[name]
    trunk = carrier.trunks[0]
    async with SipClient() as client:
        swept = await sweep_trunk(client, name, trunk.name, trunk.sip_uri, tls_files(trunk),
                                  sweep_dids(cfg, name),
                                  cps=carrier.sweep.cps, concurrency=carrier.sweep.concurrency,
                                  answer_timeout=carrier.sweep.timeout, expect=sweep_expectation(carrier),
                                  caller=carrier.sweep.caller)
    return sweep_result(swept)


async def check_certs(cfg: Config, carrier: str | None = None) -> CheckResult:
    """Every TLS trunk's certificate (any carrier's), stored as the readiness of `carrier`."""
    return certs_result(await inspect_trunks(tls_trunks(cfg)), cfg.tls.warn_days, _later(cfg, carrier))


def check_parity(cfg: Config, carrier: str | None = None) -> CheckResult:
    """The chain's first carrier's profile against `carrier`'s. Raises ConfigError when a profile is missing."""
    name = _later(cfg, carrier)
    return parity_result(differences(cfg, name), carrier=name)


async def check_parity_live(cfg: Config, platform: object | None,
                            answers: AnswersParity | None = None, carrier: str | None = None) -> CheckResult:
    """Parity from the platform's trunk settings where it keeps them (a TrunkSettingsReader: Genesys
    Cloud's trunk bases), held against the profiles where declared; elsewhere `check_parity` (the
    profiles alone: raises ConfigError without them). The platform's reader knows the chain's first
    two carriers; a later one is held against the first by its profile."""
    name = _later(cfg, carrier)
    if not isinstance(platform, TrunkSettingsReader) or name != cfg.carriers.chain[1]:
        return check_parity(cfg, name) if answers is None else \
            parity_result(differences(cfg, name), answers, carrier=name)
    try:
        settings = await platform.trunk_settings()
    except TrunkSettingsUnreadable as exc:
        return parity_live_result([], str(exc), carrier=name)
    except PlatformError as exc:
        return parity_live_result([], f"could not read the carriers' trunk settings ({exc})", carrier=name)
    return parity_live_result(live_differences(cfg, settings), answers=answers, carrier=name)


def store_result(cfg: Config, result: CheckResult) -> None:
    """A command's result into the config's store (raises StoreError when it cannot be written)."""
    store = Store.open(cfg.storage.url)
    try:
        result.save(store)
    finally:
        store.close()


async def run_readiness(cfg: Config, store: Store | None = None) -> dict[str, dict[str, Any]]:
    """Run all three and store them (in the config's store unless one is given)."""
    results = [await check_sweep(cfg), await check_certs(cfg), check_parity(cfg)]
    own = store is None
    target = Store.open(cfg.storage.url) if store is None else store
    try:
        for r in results:
            r.save(target)
    finally:
        if own:
            target.close()
    swept, certs, parity = results
    return {"sweep": {"ok": swept.ok, "answered": swept.result["ok"], "total": swept.result["total"],
                      "seconds": swept.result["duration_s"]},
            "certs": {"ok": certs.ok, "checked": len(certs.result["certs"])},
            "parity": {"ok": parity.ok, "differences": parity.result["differences"]}}


def stored_readiness(cfg: Config, store: Store, now: float | None = None, carrier: str | None = None) -> Readiness:
    return readiness_from(store.latest_checks(_later(cfg, carrier)), time.time() if now is None else now,
                          max_ages(cfg))


def _signalling(carrier: CarrierConfig) -> dict[str, Any]:
    transports = sorted({t.sip_uri.transport.value for t in carrier.trunks})
    tls = [t.tls_settings.verify for t in carrier.trunks if t.sip_uri.transport.value == "tls"]
    return {"transports": transports, "tls.verify": sorted(set(tls)) if tls else None}


def differences(config: Config, carrier: str | None = None) -> list[dict[str, Any]]:
    """Every field where the chain's first carrier's declared profile and `carrier`'s (by default the
    second's) differ, as {field, primary, secondary}: "primary" is the first, "secondary" the other.
    With routing groups, "the first" is the first carrier of the first group that has `carrier` later
    in its chain (one parity result is stored per carrier)."""
    name = _later(config, carrier)
    first = next((g.chain[0] for g in config.routing_groups() if name in g.chain[1:]), config.carriers.chain[0])
    primary, secondary = config.carriers[first], config.carriers[name]
    missing = [role for role, c in ((first, primary), (name, secondary)) if c.profile is None]
    if missing:
        raise ConfigError([(f"carriers.{role}.profile", "is needed for the parity check") for role in missing])
    assert primary.profile is not None
    assert secondary.profile is not None
    out: list[dict[str, Any]] = []
    for name in PROFILE_FIELDS:
        a, b = getattr(primary.profile, name), getattr(secondary.profile, name)
        if a != b:
            out.append({"field": name, "primary": a, "secondary": b})
    sa, sb = _signalling(primary), _signalling(secondary)
    out += [{"field": k, "primary": sa[k], "secondary": sb[k]} for k in sa if sa[k] != sb[k]]
    return out


def live_differences(config: Config, settings: Mapping[str, Mapping[str, Any]]) -> list[Difference]:
    """Parity from what the platform has (`settings`: a TrunkSettingsReader's answer, by role): the
    trunk bases compared with each other, each held against its carrier's profile where one is
    declared; the profile fields the platform has no property for compared between the profiles
    (when both are declared); and the signalling of the configured trunks (transports, TLS verification)."""
    primary_label, secondary_label = _labels(settings)
    values = {role: settings[role].get("values") or {} for role in ROLES}
    out = compare_trunk_bases(values["primary"], values["secondary"], primary_label=primary_label,
                              secondary_label=secondary_label)
    carriers = dict(zip(ROLES, (config.carriers.first, config.carriers[config.carriers.chain[1]]), strict=True))
    for role in ROLES:
        profile = carriers[role].profile
        if profile is not None:
            out += against_profile(role, profile, values[role])
    a, b = carriers["primary"].profile, carriers["secondary"].profile
    if a is not None and b is not None:
        for name in PROFILE_FIELDS:
            if name not in PLATFORM_FIELDS and getattr(a, name) != getattr(b, name):
                pa, pb = getattr(a, name), getattr(b, name)
                out.append(Difference(name, f"{name}: the primary carrier's profile declares {shown(pa)}, the "
                                            f"secondary's {shown(pb)}", "config", primary=pa, secondary=pb))
    sa, sb = _signalling(carriers["primary"]), _signalling(carriers["secondary"])
    for name in sa:
        if sa[name] != sb[name]:
            out.append(Difference(name, f"{name}: the primary carrier's trunks have {shown(sa[name])}, the "
                                        f"secondary's {shown(sb[name])}", "config",
                                  primary=sa[name], secondary=sb[name]))
    return out
