"""Profile parity: the secondary carrier must be configured like the primary (the guide's
"mismatched configuration is the leading cause of failover failure"): the same codec order, DTMF
mode and fallback, ptime, SRTP, early media and NAT mode, and the same signalling security (the
transports its trunks use, TLS verification).

Two sources, ground truth first:

- Live (`live_differences`), where the platform keeps each carrier's trunk settings (Genesys Cloud's
  trunk bases, read through `TrunkSettingsReader`): every `trunk_media_*` and `trunk_transport_*`
  property both trunk bases have is compared, except those in `MUST_DIFFER`; where the config has a
  `profile`, the platform's values are also held against it ("declared ..., the platform has ...").
  A profile is optional there.
- Declared (`differences`): the two `profile`s of the config, field by field (both are needed).

The comparisons are pure functions over plain mappings; each difference says its sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

PROFILE_FIELDS = ("codecs", "dtmf", "dtmf_fallback", "ptime", "srtp", "early_media", "nat")
ROLES = ("primary", "secondary")

# The trunk base properties compared between the carriers: media and transport.
COMPARED_PREFIXES = ("trunk_media_", "trunk_transport_")

# Properties that must differ between carriers, with why: the one list of them. Names are matched
# without regard to case or underscores (the Terraform provider spells `trunk_transport_serverProxyList`
# as `trunk_transport_server_proxy_list`). Entries outside COMPARED_PREFIXES are never compared anyway;
# they are here so that this table alone says what is each carrier's own.
MUST_DIFFER: Mapping[str, str] = MappingProxyType({
    "trunk_transport_serverProxyList": "server list: each carrier's own SBCs, where its calls are sent",
    "trunk_sip_termination_uri": "termination identifier: the inbound SIP termination each carrier sends to",
    "trunk_sip_authentication_credentials_realm": "credentials: each carrier's digest realm",
    "trunk_sip_authentication_credentials_username": "credentials: each carrier's digest user name",
    "trunk_sip_authentication_credentials_password": "credentials: each carrier's digest password",
    "trunk_access_acl_allowList": "ACL: the addresses each carrier signals from",
    "trunk_access_acl_denyList": "ACL: addresses refused for this carrier",
    "trunk_label": "label: the trunk base's own name",
})

# What a difference in a property means at cutover, said after its sentence.
CONSEQUENCES: Mapping[str, str] = MappingProxyType({
    "trunk_media_codec": "codec renegotiation at cutover",
    "trunk_media_dtmf_method": "IVR digits lost or doubled after cutover",
    "trunk_media_dtmf_payload": "DTMF events on another payload type go unheard",
    "trunk_media_srtpCipherSuites": "media encryption negotiated differently",
    "trunk_media_disconnectOnIdleRTP": "silent calls dropped on one carrier only",
    "trunk_media_dscpValue": "media marked for another QoS class",
    "trunk_transport_sipDscpValue": "signalling marked for another QoS class",
    "trunk_transport_protocolVariant": "another signalling transport and security",
    "trunk_transport_retryableReasonCodes": "failed calls retried differently",
    "trunk_transport_retryableCauseCodes": "failed calls retried differently",
})

# Profile fields with a platform property, and how a platform value reads as a profile value.
DTMF_METHODS = MappingProxyType({"rtp events": "rfc2833", "in-band audio": "inband", "none": "none"})


@dataclass(frozen=True)
class Difference:
    """One way the carriers differ (`source` platform or config), or one way the platform differs
    from a carrier's declared profile (`source` declared, `carrier` set)."""

    field: str
    sentence: str
    source: str                 # "platform": the trunk bases; "declared": profile vs platform; "config"
    primary: Any = None
    secondary: Any = None
    carrier: str | None = None  # declared: whose profile
    declared: Any = None
    platform: Any = None

    def as_dict(self) -> dict[str, Any]:
        if self.source == "declared":
            return {"field": self.field, "carrier": self.carrier, "declared": self.declared,
                    "platform": self.platform, "sentence": self.sentence, "source": self.source}
        return {"field": self.field, "primary": self.primary, "secondary": self.secondary,
                "sentence": self.sentence, "source": self.source}


def _key(name: str) -> str:
    return name.replace("_", "").lower()


_MUST_DIFFER = {_key(k): k for k in MUST_DIFFER}
_CONSEQUENCES = {_key(k): v for k, v in CONSEQUENCES.items()}


def must_differ(name: str) -> str | None:
    """Why this property is each carrier's own (None: it is compared)."""
    known = _MUST_DIFFER.get(_key(name))
    return None if known is None else MUST_DIFFER[known]


def compared(name: str) -> bool:
    return name.startswith(COMPARED_PREFIXES) and must_differ(name) is None


def shown(value: Any) -> str:
    """A property value for people: lists joined, `audio/` dropped from codecs."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value.removeprefix("audio/") if value.startswith("audio/") else value
    if isinstance(value, Sequence):
        return ", ".join(shown(v) for v in value) if value else "none"
    return str(value)


def _consequence(name: str) -> str:
    why = _CONSEQUENCES.get(_key(name))
    return f" ({why})" if why else ""


def compare_trunk_bases(primary: Mapping[str, Any], secondary: Mapping[str, Any], *,
                        primary_label: str = "the primary carrier",
                        secondary_label: str = "the secondary carrier") -> list[Difference]:
    """Every compared property (media and transport, not MUST_DIFFER) both carriers have whose values
    differ, in name order: "trunk_media_codec: Carrier A has pcmu, g729, pcma; Carrier B has pcmu,
    pcma, g729 (codec renegotiation at cutover)". Lists are compared in order (an order is a preference)."""
    out = []
    for name in sorted(set(primary) & set(secondary)):
        if not compared(name) or primary[name] == secondary[name]:
            continue
        a, b = primary[name], secondary[name]
        out.append(Difference(name, f"{name}: {primary_label} has {shown(a)}; {secondary_label} has {shown(b)}"
                                    f"{_consequence(name)}", "platform", primary=a, secondary=b))
    return out


def _codecs(values: Any) -> list[str] | None:
    if not isinstance(values, list):
        return None
    return [str(v).lower().removeprefix("audio/") for v in values]


class DeclaredProfile(Protocol):
    """What a carrier's declared `profile` says that the platform's trunk settings can be held against."""

    @property
    def codecs(self) -> Sequence[str]: ...

    @property
    def dtmf(self) -> str: ...


def against_profile(role: str, profile: DeclaredProfile, values: Mapping[str, Any]) -> list[Difference]:
    """Where a carrier's declared profile and its trunk settings on the platform disagree, for the
    fields the platform has: codecs (`trunk_media_codec`) and DTMF (`trunk_media_dtmf_method`)."""
    out = []
    if "trunk_media_codec" in values:
        declared, platform = [c.lower() for c in profile.codecs], _codecs(values["trunk_media_codec"])
        if declared != platform:
            out.append(Difference("trunk_media_codec", f"trunk_media_codec: the {role} carrier's profile declares "
                                  f"{', '.join(declared)}, the platform has {shown(values['trunk_media_codec'])}"
                                  f"{_consequence('trunk_media_codec')}", "declared", carrier=role,
                                  declared=list(profile.codecs), platform=values["trunk_media_codec"]))
    if "trunk_media_dtmf_method" in values:
        method = values["trunk_media_dtmf_method"]
        if DTMF_METHODS.get(str(method).lower()) != profile.dtmf:
            out.append(Difference("trunk_media_dtmf_method", f"trunk_media_dtmf_method: the {role} carrier's "
                                  f"profile declares {profile.dtmf}, the platform has {shown(method)}"
                                  f"{_consequence('trunk_media_dtmf_method')}", "declared", carrier=role,
                                  declared=profile.dtmf, platform=method))
    return out


PLATFORM_FIELDS = ("codecs", "dtmf")  # profile fields the platform's trunk settings say


def _labels(settings: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """The carriers as the platform names them ("Carrier A"), or by role when it does not tell them apart."""
    names = [str(settings[r].get("name") or "") for r in ROLES]
    if all(names) and names[0] != names[1]:
        return names[0], names[1]
    return "the primary carrier", "the secondary carrier"


