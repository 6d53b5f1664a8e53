"""Profile parity: the secondary carrier must be configured like the primary (the guide's
"mismatched configuration is the leading cause of failover failure"): the same codec order, DTMF
mode and fallback, ptime, SRTP, early media and NAT mode, and the same signalling security (the
transports its trunks use, TLS verification)."""

from __future__ import annotations

from typing import Any

from trunkguard.config import CarrierConfig, Config
from trunkguard.errors import ConfigError

PROFILE_FIELDS = ("codecs", "dtmf", "dtmf_fallback", "ptime", "srtp", "early_media", "nat")


def _signalling(carrier: CarrierConfig) -> dict[str, Any]:
    transports = sorted({t.sip_uri.transport.value for t in carrier.trunks})
    tls = [t.tls_settings.verify for t in carrier.trunks if t.sip_uri.transport.value == "tls"]
    return {"transports": transports, "tls.verify": sorted(set(tls)) if tls else None}


def differences(config: Config) -> list[dict[str, Any]]:
    """Every field where the carriers differ, as {field, primary, secondary}."""
    primary, secondary = config.carriers.primary, config.carriers.secondary
    missing = [role for role, c in (("primary", primary), ("secondary", secondary)) if c.profile is None]
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
