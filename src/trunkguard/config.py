"""The configuration file: one YAML document, validated by pydantic, unknown keys refused.

Every problem is reported as (field path, rule), e.g.
`carriers.primary.health.timeout: must be shorter than interval (15s)`. Timing rules are
checked here, at load, and refused rather than silently adjusted. Secrets are never inline:
keys ending in `_env` name the environment variable that holds them, or their `_file` siblings name
a file (systemd's `LoadCredential=`); one of the two, never both. credentials.Secrets reads them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    RootModel,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    model_validator,
)

from trunkguard.codes import ALIVE_DEFAULT, CodeSet, parse_codes
from trunkguard.config_errors import FieldRule, describe
from trunkguard.durations import PATTERN_TEXT, format_duration, parse_duration
from trunkguard.errors import ConfigError
from trunkguard.regions import GENESYS_REGIONS
from trunkguard.sip.uri import SipUri, Transport, parse_uri
from trunkguard.yamlfile import YamlRefused, load_yaml, read_file


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    return value if value.is_absolute() or base is None else Path(base) / value


def _within(most: float) -> Callable[[object], float]:
    """A duration parser refusing more than `most` seconds, naming the bound and the value given."""
    def parse(value: object) -> float:
        seconds = parse_duration(value)
        if seconds > most:
            raise ValueError(f"must be at most {format_duration(most)}, not {value}")
        return seconds
    return parse


def _duration_schema(most: float) -> dict[str, Any]:
    return {"anyOf": [{"type": "number", "minimum": 0, "maximum": most},
                      {"type": "string", "pattern": PATTERN_TEXT}],
            "description": f"seconds, or a string such as 500ms, 15s, 5m; at most {format_duration(most)}"}


_AS_TEXT = PlainSerializer(format_duration, return_type=str)
# Each duration field has a bound: a probe's own times a minute, intervals an hour, policy times a day,
# how long results are kept a month. A typo of units ("15d") is refused, not obeyed for years.
ProbeTime = Annotated[float, BeforeValidator(_within(60.0)), _AS_TEXT, WithJsonSchema(_duration_schema(60.0))]
Interval = Annotated[float, BeforeValidator(_within(3600.0)), _AS_TEXT, WithJsonSchema(_duration_schema(3600.0))]
Duration = Annotated[float, BeforeValidator(_within(86400.0)), _AS_TEXT, WithJsonSchema(_duration_schema(86400.0))]
Retention = Annotated[float, BeforeValidator(_within(30 * 86400.0)), _AS_TEXT,
                      WithJsonSchema(_duration_schema(30 * 86400.0))]
Codes = Annotated[
    CodeSet, BeforeValidator(parse_codes), PlainSerializer(str, return_type=str),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^\d{3}(-\d{3})?(,\s*\d{3}(-\d{3})?)*$"},
                              {"type": "array", "items": {"type": "integer"}}],
                    "description": "final response codes, e.g. '200-299,405'"}),
]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                               description="name of the environment variable holding the secret")]
ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
# Kept as written: a relative path is looked up in $CREDENTIALS_DIRECTORY when systemd sets it, else beside
# the config file (credentials.secret_path), so it is resolved where the secret is read, not here.
SecretFile = Annotated[Path, Field(description="a file holding the secret (a final newline is dropped); a "
                                               "relative path is read from $CREDENTIALS_DIRECTORY when systemd "
                                               "sets it (LoadCredential=), else beside the config file")]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

_SECRET_KEYS = {"client_secret", "client_id", "secret", "password", "token", "api_key",
                "routing_key", "webhook_url", "api_token", "url_secret"}


def secret_names(model: type[BaseModel]) -> tuple[str, ...]:
    """The secrets a section names: each `X` with both an `X_env` and an `X_file` key."""
    return tuple(name.removesuffix("_env") for name in model.model_fields
                 if name.endswith("_env") and name.removesuffix("_env") + "_file" in model.model_fields)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    required_secrets: ClassVar[tuple[str, ...]] = ()  # secrets this section cannot do without

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key in _SECRET_KEYS and f"{key}_env" in cls.model_fields:
                    raise FieldRule(key, f"inline secrets are not accepted: name the environment variable "
                                         f"holding it in {key}_env, or a file holding it in {key}_file")
        return data

    @model_validator(mode="after")
    def _one_source_per_secret(self) -> Section:
        for name in secret_names(type(self)):
            env, file = self.secret(name)
            if env is not None and file is not None:
                raise FieldRule(f"{name}_file", f"give {name}_env or {name}_file, not both")
            if env is None and file is None and name in self.required_secrets:
                raise FieldRule(f"{name}_env", f"is required (or {name}_file)")
        return self

    def secret(self, name: str) -> tuple[str | None, Path | None]:
        """Where secret `name` is: (the variable its `_env` key names, the file its `_file` key names)."""
        env, file = getattr(self, f"{name}_env"), getattr(self, f"{name}_file")
        return env, file


class HealthSettings(Section):
    interval: Interval = Field(15.0, description="time between OPTIONS probes while healthy")
    timeout: ProbeTime = Field(2.0, description="a probe's deadline (kept far below Timer F's 32 s)")
    confirm_interval: ProbeTime = Field(0.1, description="spacing of the quick confirmation probes while SUSPECT")
    down_after: int = Field(3, ge=1, le=100, description="consecutive failed checks that mark a trunk DOWN; "
                                                        "the first is a probe, each later one a burst")
    confirm_burst: int = Field(5, ge=1, le=50, description="probes in each confirmation check; a check "
                                                           "fails only if none of them is answered")
    up_after: int = Field(2, ge=1, le=100, description="consecutive successes that bring it back UP")
    correlate: bool = Field(True, description="when one of the carrier's trunks turns SUSPECT, probe its other UP "
                                              "trunks at once (each still needs its own failures to go DOWN)")
    correlate_max_probes: int | None = Field(None, ge=1, le=100_000,
                                             description="correlated probes a carrier may receive per interval "
                                                         "(default: twice its number of trunks)")
    targets: Literal["any", "all"] = Field("any", description="a trunk whose name resolves to several addresses "
                                                              "(RFC 3263 NAPTR/SRV/A) is probed at every one, each "
                                                              "with its own health; any: usable while any target "
                                                              "answers; all: only while every one does")

    @model_validator(mode="after")
    def _timing(self) -> HealthSettings:
        if self.timeout <= 0:
            raise FieldRule("timeout", "must be more than 0")
        if self.timeout >= self.interval:
            raise FieldRule("timeout", f"must be shorter than interval ({format_duration(self.interval)})")
        if self.confirm_interval <= 0:
            raise FieldRule("confirm_interval", "must be more than 0")
        if self.confirm_interval >= self.interval:
            raise FieldRule("confirm_interval",
                            f"must be shorter than interval ({format_duration(self.interval)})")
        return self


class MediaSettings(Section):
    enabled: bool = Field(False, description="place INVITE test calls and check RTP both ways")
    interval: Duration = Field(60.0, description="time between test calls while the trunk is healthy")
    duration: ProbeTime = Field(2.0, description="how long a test call sends RTP once answered")
    rtp_timeout: ProbeTime = Field(4.0, description="a test call with no RTP back within this fails (the guide's 4 s)")
    number: str | None = Field(None, description="user part to call (a carrier test number)")
    confirm_interval: Duration | None = Field(None, description="a failed test call is repeated this soon (and a "
                                                                "recovering trunk's first good one); default 5s, "
                                                                "or half the interval if that is shorter")
    down_after: int = Field(2, ge=1, le=100, description="failed test calls in a row before the trunk cannot carry "
                                                 "calls: one busy test number or one edge's 503 is not an outage")
    up_after: int = Field(2, ge=1, le=100, description="good test calls in a row before it can again")
    max_loss_pct: float = Field(8.0, gt=0, le=100, description="a test call losing more RTP packets fails "
                                                               "(G.107: R falls to 70 at 8.1 % for G.711)")
    max_jitter_ms: float = Field(40.0, gt=0, description="a test call with more interarrival jitter fails")
    max_rtt_ms: float = Field(300.0, gt=0, description="a test call with a longer RTP round trip fails (G.114)")

    @model_validator(mode="after")
    def _timing(self) -> MediaSettings:
        for name in ("duration", "rtp_timeout"):
            if getattr(self, name) <= 0:
                raise FieldRule(name, "must be more than 0")
        if self.interval <= self.duration + self.rtp_timeout:
            raise FieldRule("interval", "must be longer than duration + rtp_timeout "
                                        f"({format_duration(self.duration + self.rtp_timeout)})")
        if self.confirm_interval is not None and self.confirm_interval <= 0:
            raise FieldRule("confirm_interval", "must be more than 0")
        if self.confirm_interval is not None and self.confirm_interval >= self.interval:
            raise FieldRule("confirm_interval", f"must be shorter than interval ({format_duration(self.interval)})")
        return self

    @property
    def confirm_every(self) -> float:
        return self.confirm_interval if self.confirm_interval is not None else min(5.0, self.interval / 2)


class Profile(Section):
    codecs: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+$")]] = Field(
        min_length=1, description="the codecs the carrier is set up with, in order of preference (PCMU, G729 ...)")
    dtmf: Literal["rfc2833", "sip-info", "inband"] = Field("rfc2833", description="how DTMF is sent (RFC 2833/4733 "
                                                                                   "telephone-event is the guide's)")
    dtmf_fallback: Literal["rfc2833", "sip-info", "inband", "none"] = Field("sip-info", description="the DTMF method "
                                                                                          "used when that fails")
    ptime: int = Field(20, ge=10, le=120, description="RTP packetization time in ms")
    srtp: bool = Field(False, description="media encrypted with SRTP")
    early_media: bool = Field(False, description="the carrier sends early media (183 with SDP) before the answer")
    nat: Literal["external-ip", "none", "stun"] = Field("external-ip", description="how the SBC presents its address "
                                                                                    "across NAT")


class TlsSettings(Section):
    ca_file: ConfigPath | None = Field(None, description="the CA bundle (PEM) the carrier's certificate is verified "
                                                         "against (default: the system's); re-read when it changes")
    cert_file: ConfigPath | None = Field(None, description="our client certificate (PEM) for mutual TLS")
    key_file: ConfigPath | None = Field(None, description="its private key (PEM); needs cert_file")
    verify: bool = Field(True, description="verify the carrier's certificate and name (false only for a lab)")
    pin_sha256: list[str] = Field(default_factory=list, description="SHA-256 of the peer certificate's public key "
                                  "(SubjectPublicKeyInfo), 64 hex characters each; any one matching passes "
                                  "(`trunkguard certs --json` shows the peer's as spki_sha256)")
    pin_mode: Literal["report", "enforce"] = Field("report", description="report: a mismatch is logged and paged; "
                                                   "enforce: it fails the probe")

    @model_validator(mode="after")
    def _pair(self) -> TlsSettings:
        if self.key_file is not None and self.cert_file is None:
            raise FieldRule("key_file", "needs cert_file too")
        for i, pin in enumerate(self.pin_sha256):
            if not _PIN.fullmatch(pin):
                raise FieldRule(f"pin_sha256[{i}]", f"{pin!r} is not 64 hex characters (the SHA-256 of the "
                                                    "certificate's public key)")
        if "pin_mode" in self.model_fields_set and not self.pin_sha256:
            raise FieldRule("pin_mode", "needs pin_sha256")
        return self


_PIN = re.compile(r"[0-9a-fA-F]{64}")


class TrunkConfig(Section):
    name: Name = Field(description="the trunk's name in sentences, metrics and the CLI (unique across carriers)")
    uri: str = Field(description="sip:host[:port];transport=udp|tcp|tls, or sips:")
    alive_codes: Codes = Field(ALIVE_DEFAULT, description="final responses to OPTIONS that mean alive")
    tls: TlsSettings | None = Field(None, description="TLS settings of a transport=tls (or sips:) trunk")
    health: HealthSettings | None = Field(None, description="overrides the carrier's health settings")

    @model_validator(mode="after")
    def _uri(self) -> TrunkConfig:
        try:
            uri = parse_uri(self.uri)
        except ValueError as exc:
            raise FieldRule("uri", str(exc)) from None
        if self.tls is not None and uri.transport is not Transport.TLS:
            raise FieldRule("tls", f"is only for TLS trunks, and this one uses {uri.transport.value}")
        return self

    @property
    def sip_uri(self) -> SipUri:
        return parse_uri(self.uri)

    @property
    def tls_settings(self) -> TlsSettings:
        return self.tls or TlsSettings()


class SweepExpect(Section):
    """How a sweep call's 200 OK proves it came from the contact center (every key given must hold)."""

    tone_hz: float | None = Field(None, description="the answered call must carry this tone (300 to 3400 Hz), "
                                                    "which the contact center's flow plays to calls from "
                                                    "sweep.caller, e.g. 1004")
    tone_within: ProbeTime = Field(3.0, description="how soon after the answer the tone must be heard")
    sdp_address: str | None = Field(None, description="regular expression the SDP answer's address must match")
    contact: str | None = Field(None, description="regular expression the 200's Contact header must match")
    server: str | None = Field(None, description="regular expression the 200's Server header (or User-Agent) "
                                                 "must match")

    @model_validator(mode="after")
    def _rules(self) -> SweepExpect:
        if self.tone_hz is not None and not 300 <= self.tone_hz <= 3400:
            raise FieldRule("tone_hz", f"must be between 300 and 3400 Hz (what a telephone call carries), "
                                       f"not {self.tone_hz:g}")
        if self.tone_within <= 0:
            raise FieldRule("tone_within", "must be more than 0")
        if "tone_within" in self.model_fields_set and self.tone_hz is None:
            raise FieldRule("tone_within", "needs tone_hz")
        for key in ("sdp_address", "contact", "server"):
            value = getattr(self, key)
            try:
                re.compile(value or "")
            except re.error as exc:
                raise FieldRule(key, f"{value!r} is not a regular expression: {exc}") from None
        return self


class SweepSettings(Section):
    cps: float = Field(20, gt=0, le=10_000, description="test calls started per second")
    concurrency: int = Field(50, ge=1, le=10_000, description="test calls in progress at most")
    timeout: ProbeTime = Field(8.0, description="a DID not answered within this fails")
    caller: str | None = Field(None, pattern=r"^\+?[0-9]{3,15}$",
                               description="the calling number (From user part) of the sweep's calls, e.g. "
                                           "+15550009999: the number the contact center's flow plays its tone to")
    expect: SweepExpect | None = Field(None, description="what an answer must show to prove it reached the "
                                                         "contact center; without it any 200 passes")


_DID = re.compile(r"^\+?[0-9]{3,15}$")


class CarrierConfig(Section):
    trunk_group_id: str = Field(min_length=1, description="the carrier's id on the platform: the generic contract's "
                                                         "trunk group, Genesys Cloud's trunk base, CXone's skill")
    health: HealthSettings = Field(HealthSettings(), description="OPTIONS probing of the carrier's trunks")
    media: MediaSettings = Field(MediaSettings(), description="the media check: test calls with RTP both ways")
    profile: Profile | None = Field(None, description="how the carrier is set up, for parity (optional where the "
                                                      "platform's trunk settings are read live)")
    trunks: list[TrunkConfig] = Field(min_length=1, description="the carrier's trunks (SIP peers), each probed")
    dids: list[str] | None = Field(None, description="the numbers the sweep calls through this carrier (with "
                                                     "routing groups, before any group's dids)")
    dids_file: ConfigPath | None = Field(None, description="the same, one per line (# comments), for long lists")
    sweep: SweepSettings = Field(SweepSettings(), description="how the DID sweep calls and what proves an answer")

    @model_validator(mode="after")
    def _dids(self) -> CarrierConfig:
        if self.dids is not None and self.dids_file is not None:
            raise FieldRule("dids_file", "give dids or dids_file, not both")
        for i, did in enumerate(self.dids or []):
            if not _DID.match(did):
                raise FieldRule(f"dids[{i}]", f"{did!r} is not a number like +15550000001")
        return self

    def health_of(self, trunk: TrunkConfig) -> HealthSettings:
        return trunk.health or self.health


PAIR = ("primary", "secondary")  # a config's carriers named so form this chain without a `chain:` key


class Carriers(RootModel[dict[Name, CarrierConfig]]):
    """The carriers by name, in chain order once the config is read: the first is preferred, the next
    takes the calls when it is down, and so on (`chain`). Names are the carriers' in sentences,
    metrics and the CLI."""

    model_config = ConfigDict(frozen=True)
    root: dict[Name, CarrierConfig] = Field(min_length=2, description="each carrier under its name")

    @property
    def chain(self) -> tuple[str, ...]:
        return tuple(self.root)

    @property
    def first(self) -> CarrierConfig:
        return next(iter(self.root.values()))

    def __getitem__(self, name: str) -> CarrierConfig:
        return self.root[name]

    def items(self) -> list[tuple[str, CarrierConfig]]:
        return list(self.root.items())

    def groups(self) -> dict[str, str]:
        """Each carrier's trunk_group_id (its id on the platform), by name, in chain order."""
        return {name: carrier.trunk_group_id for name, carrier in self.root.items()}

    def later(self) -> list[tuple[str, CarrierConfig]]:
        """Every carrier after the first: those a move down the chain may go to."""
        return list(self.root.items())[1:]


def _chain_of(chain: object, names: object) -> list[str] | None:
    """The chain as given, or, when none is given, the pair's for carriers named primary and secondary;
    None when it cannot be told (read on the raw file and on the validated config alike)."""
    if isinstance(chain, list) and all(isinstance(c, str) for c in chain):
        return list(chain)
    if chain is None and isinstance(names, dict | list) and set(names) == set(PAIR):
        return list(PAIR)
    return None


class TlsPolicy(Section):
    warn_days: float = Field(14, gt=0, le=3650, description="a certificate expiring within this many days warns")


class FailbackPolicy(Section):
    mode: Literal["approval", "sustained"] = Field("approval", description="approval: back to the primary only when "
                                                                           "a person approves; sustained: by itself "
                                                                           "after sustained_recovery")
    sustained_recovery: Duration = Field(300.0, description="how long the primary must stay usable before a "
                                                           "sustained failback (the guide's 5 m)")


class PrimaryDownWhen(Section):
    """When the primary carrier as a whole counts as down. Neither set: when no trunk is usable."""

    fewer_usable_than: int | None = Field(None, ge=1, le=100_000, description="down with fewer usable trunks than this")
    usable_fraction_below: float | None = Field(None, gt=0, le=1, description="down with a smaller share of "
                                                                              "its trunks usable (0.5: half)")


class BreakerPolicy(Section):
    max_active_calls: int = Field(5, ge=0, le=1_000_000, description="swap only while fewer live calls than this; "
                                                                     "otherwise queue and notify")
    queue_timeout: Duration = Field(120.0, description="a queued activation is escalated to a person after this")
    hard_down_bypass: bool = Field(True, description="swap despite live calls when no primary trunk answers SIP")


class ReadinessGates(Section):
    trunks: bool = Field(True, description="the secondary needs a usable trunk (and the edge not seeing it out of "
                                           "service)")
    sweep: bool = Field(True, description="the secondary's last DID sweep must have passed")
    certs: bool = Field(True, description="the TLS trunks' certificates must be valid")
    parity: bool = Field(True, description="the carriers must be set up alike (profiles, answers, live trunk "
                                           "settings)")
    recheck_interval: Retention = Field(3600.0, description="how often the daemon re-runs the certificate and "
                                                           "parity checks (0: never, only the commands)")
    sweep_interval: Retention = Field(0.0, description="how often the daemon re-runs the DID sweep, which places "
                                                      "a test call to every DID (0: only `trunkguard sweep`)")
    sweep_min_ready: float = Field(1.0, gt=0, le=1, description="the share of DIDs the sweep must prove; below 1 "
                                                              "an automatic swap may go ahead with fewer only "
                                                              "when the primary is hard down (no trunk answers "
                                                              "SIP), and the page lists the DIDs left unreachable")
    sweep_max_age: Retention | None = Field(None, description="an older sweep result does not count (default: twice "
                                                             "sweep_interval; any age when that is 0)")
    certs_max_age: Retention | None = Field(None, description="an older certificate check does not count (default: "
                                                             "twice recheck_interval; any age when that is 0)")
    parity_max_age: Retention | None = Field(None, description="an older parity check does not count (default: "
                                                              "twice recheck_interval; any age when that is 0)")


class Policy(Section):
    mode: Literal["act", "observe"] = Field("act", description="observe: decide, record and notify what would "
                                                                "be done (\"would swap ...\"), never write to the "
                                                                "platform")
    cooling_period: Duration = Field(90.0, description="after a swap to the secondary, no return before this")
    poll_interval: Interval = Field(10.0, description="how often the platform's calls, the edge view and the "
                                                     "stored checks are read, and the pair decided")
    primary_down_when: PrimaryDownWhen = Field(default_factory=PrimaryDownWhen,
                                               description="a partial-outage rule; default: no usable trunk left")
    failback: FailbackPolicy = Field(FailbackPolicy(), description="how routing returns to the primary")
    breaker: BreakerPolicy = Field(BreakerPolicy(), description="the circuit breaker on live calls")
    readiness: ReadinessGates = Field(ReadinessGates(), description="what must hold of the secondary before a "
                                                                   "swap, and how often it is re-checked")
    quorum: Literal["majority"] | Annotated[int, Field(ge=1, le=16)] = Field(
        "majority", description="how many of the configured `vantages` must see the primary down before it "
                                "counts as down: a count, or majority (more than half); ignored without "
                                "`vantages`")

    @model_validator(mode="after")
    def _timing(self) -> Policy:
        if self.poll_interval <= 0:
            raise FieldRule("poll_interval", "must be more than 0")
        if self.failback.mode == "sustained" and self.failback.sustained_recovery <= 0:
            raise FieldRule("failback.sustained_recovery", "must be more than 0 in sustained mode")
        return self


class PlatformConfig(Section):
    """Where inbound routing is switched. Which keys each kind needs is checked here, at load time."""

    kind: Literal["generic", "genesys", "cxone", "emulator"] = Field(description="which platform's API: the "
                                                                                  "guide's generic contract, Genesys "
                                                                                  "Cloud, NICE CXone, or the lab's")
    base_url: str | None = Field(None, pattern=r"^https?://\S+$",
                                 description="the API base; for genesys, `region` can give it instead")
    region: str | None = Field(None, description="genesys: a region such as us_east_1, eu_central_1, ap_southeast_2")
    login_url: str | None = Field(None, pattern=r"^https?://\S+$",
                                  description="the OAuth token URL, when not derived from the API base")
    rule_id: str | None = Field(None, description="generic: the routing rule a swap rewrites")
    queue_id: str | None = Field(None, description="generic: the queue the rule routes to")
    fallback_queue_id: str | None = Field(None, description="generic: the rule's overflow queue")
    sites: list[str] = Field(default_factory=list, description="genesys: move only the outbound routes of these "
                                                               "sites (empty: every site)")
    outbound_routes: list[str] = Field(default_factory=list, description="genesys: move only these outbound routes "
                                                                         "(empty: every route using either carrier)")
    site_id: str | None = Field(None, description="genesys: the older one-route form; the same as `sites: [id]`")
    outbound_route_id: str | None = Field(None, description="genesys: the older one-route form; the same as "
                                                            "`outbound_routes: [id]`")
    datatable_id: str | None = Field(None, description="genesys: the Architect data table the inbound flows read")
    datatable_row: str = Field("active", description="genesys: the row key of the active-carrier flag")
    manage_trunk_enabled: bool = Field(False, description="genesys: also take the primary's trunk base out of "
                                                          "service (trunk_enabled) while on the secondary")
    edge_push: bool = Field(True, description="genesys: take the edge view pushed over a Notification API "
                                              "channel (polled only while the channel is down)")
    point_of_contact_id: str | None = Field(None, description="cxone: the point of contact whose skill moves")
    client_id_env: EnvName | None = Field(None, description="the variable holding the OAuth client id")
    client_secret_env: EnvName | None = Field(None, description="the variable holding the OAuth client secret")
    access_key_id_env: EnvName | None = Field(None, description="cxone: the access key id's variable")
    access_key_secret_env: EnvName | None = Field(None, description="cxone: the access key secret's variable")
    client_id_file: SecretFile | None = Field(None, description="the file holding the OAuth client id "
                                                                "(instead of client_id_env)")
    client_secret_file: SecretFile | None = Field(None, description="the file holding the OAuth client secret "
                                                                    "(instead of client_secret_env)")
    access_key_id_file: SecretFile | None = Field(None, description="cxone: the file holding the access key id")
    access_key_secret_file: SecretFile | None = Field(None, description="cxone: the file holding the access key "
                                                                        "secret")
    timeout: Interval = Field(10.0, description="one request, its retries of 429/5xx included")
    readback_deadline: Interval = Field(10.0, description="after each write, how long to read until it shows "
                                                          "(the platform is eventually consistent)")
    settle: Interval | None = Field(None, description="how long a write whose outcome is unknown (a lost answer, "
                                                      "a crash, a takeover) is read before it counts as not "
                                                      "applied; default: `timeout`")
    drift_check: Interval = Field(300.0, description="how often the leader re-reads the routing objects it "
                                                     "manages; a change it did not write is adopted, paged "
                                                     "(routing_drift) and held, never undone (0: never)")
    swap_deadline: Interval | None = Field(None, description="a whole swap, every object and read-back; default: "
                                                             "4 x `timeout` + `readback_deadline`")

    @model_validator(mode="after")
    def _per_kind(self) -> PlatformConfig:
        for name in ("timeout", "readback_deadline", "settle", "swap_deadline"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise FieldRule(name, "must be more than 0")
        if self.swap_deadline is not None and self.swap_deadline < self.timeout:
            raise FieldRule("swap_deadline", f"must be at least timeout ({format_duration(self.timeout)})")
        if self.base_url is None and not (self.kind == "genesys" and self.region):
            raise FieldRule("base_url", "is required" + (" (or give region)" if self.kind == "genesys" else ""))
        if self.region is not None:
            if self.kind != "genesys":
                raise FieldRule("region", "is only for kind genesys")
            if self.region not in GENESYS_REGIONS:
                raise FieldRule("region", f"{self.region!r} is not a Genesys Cloud region; one of "
                                          f"{', '.join(GENESYS_REGIONS)}")
        if self.kind != "genesys":
            for key in ("sites", "outbound_routes", "site_id", "outbound_route_id"):
                if getattr(self, key):
                    raise FieldRule(key, "is only for kind genesys")
        needs = {"generic": ("rule_id",), "emulator": ("rule_id",), "genesys": (),
                 "cxone": ("point_of_contact_id", "access_key_id_env", "access_key_secret_env")}[self.kind]
        for key in needs:
            secret = key.removesuffix("_env")
            if secret != key and self.secret(secret) == (None, None):
                raise FieldRule(key, f"is required for kind {self.kind} (or {secret}_file)")
            if getattr(self, key) is None and secret == key:
                raise FieldRule(key, f"is required for kind {self.kind}")
        return self

    def route_limits(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """genesys: the sites and outbound routes a swap is limited to (the older one-route form included)."""
        sites = (*self.sites, *([self.site_id] if self.site_id else []))
        routes = (*self.outbound_routes, *([self.outbound_route_id] if self.outbound_route_id else []))
        return tuple(dict.fromkeys(sites)), tuple(dict.fromkeys(routes))


# The keys of `platform` that name what a swap changes; a group gives its own, the rest is shared.
ROUTING_KEYS = ("rule_id", "queue_id", "fallback_queue_id", "sites", "outbound_routes", "site_id",
                "outbound_route_id", "datatable_id", "datatable_row", "point_of_contact_id")


def _routing_field(key: str) -> Any:
    """A group's own value of a routing key, described as `platform` describes it."""
    return Field(None, description=f"{PlatformConfig.model_fields[key].description} (default: platform's)")


class GroupPlatform(Section):
    """A routing group's own routing objects on the platform, merged over the top-level `platform` (which
    keeps what every group shares: kind, base_url, credentials, timeouts). A swap in one group must not
    move another's routing, so no two groups may name the same objects."""

    rule_id: str | None = _routing_field("rule_id")
    queue_id: str | None = _routing_field("queue_id")
    fallback_queue_id: str | None = _routing_field("fallback_queue_id")
    sites: list[str] | None = _routing_field("sites")
    outbound_routes: list[str] | None = _routing_field("outbound_routes")
    site_id: str | None = _routing_field("site_id")
    outbound_route_id: str | None = _routing_field("outbound_route_id")
    datatable_id: str | None = _routing_field("datatable_id")
    datatable_row: str | None = _routing_field("datatable_row")
    point_of_contact_id: str | None = _routing_field("point_of_contact_id")

    @model_validator(mode="before")
    @classmethod
    def _shared_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key in PlatformConfig.model_fields and key not in ROUTING_KEYS:
                    raise FieldRule(key, "is set once for every group, under platform (a group gives only its "
                                         f"routing objects: {', '.join(ROUTING_KEYS)})")
        return data


class GroupConfig(Section):
    """One routing group: an operation (a region, a brand) with its own carrier chain, DIDs, policy and
    routing objects. Its carriers are named from the top-level `carriers`, where each is defined (and
    probed) once however many groups list it."""

    chain: list[Name] = Field(description="the group's carriers in priority order, first preferred, by their "
                                          "names under carriers (at least two); a carrier may be in several "
                                          "groups' chains")
    dids: list[str] | None = Field(None, description="the numbers the group's inbound routing serves: the sweep "
                                                     "calls them through each later carrier of its chain that has "
                                                     "no dids of its own (a carrier later in several groups: all "
                                                     "of theirs, one result for the carrier)")
    dids_file: ConfigPath | None = Field(None, description="the same, one per line (# comments), for long lists; "
                                                           "read when the config is")
    policy: dict[str, Any] | None = Field(None, description="the group's own policy: merged key by key over the "
                                                            "top-level policy (a mapping within it too), the "
                                                            "result checked as policy is; poll_interval, quorum "
                                                            "and the readiness re-check intervals and ages are "
                                                            "the deployment's, set under policy only")
    platform: GroupPlatform | None = Field(None, description="the group's own routing objects, merged over the "
                                                             "top-level platform")

    @model_validator(mode="after")
    def _rules(self) -> GroupConfig:
        if len(self.chain) < 2:
            raise FieldRule("chain", "a chain needs at least two carriers: one to take the calls when the other "
                                     "is down")
        for i, name in enumerate(self.chain):
            if name in self.chain[:i]:
                raise FieldRule(f"chain[{i}]", f"{name!r} is listed twice; each carrier has one place in the chain")
        if self.dids is not None and self.dids_file is not None:
            raise FieldRule("dids_file", "give dids or dids_file, not both")
        for i, did in enumerate(self.dids or []):
            if not _DID.match(did):
                raise FieldRule(f"dids[{i}]", f"{did!r} is not a number like +15550000001")
        return self


DEFAULT_GROUP = "default"  # the one routing group of a config without `groups`


@dataclass(frozen=True)
class RoutingGroup:
    """One routing group as the config makes it: its chain, its policy and platform with the top-level
    ones merged in and checked, and its DIDs. A config without `groups` is one group, DEFAULT_GROUP."""

    name: str
    chain: tuple[str, ...]
    policy: Policy
    platform: PlatformConfig | None  # None when the config has no platform
    dids: tuple[str, ...] = ()  # the group's dids, or its dids_file's; empty when it gives none


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on `base`, key by key; a mapping in both is merged the same way, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        out[key] = _deep_merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return out


def _as_mapping(value: object) -> dict[str, Any]:
    """A section as written: the file's mapping, or what was set of a section given as a model."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    return dict(value) if isinstance(value, dict) else {}


def _read_dids(path: Path, where: str) -> tuple[str, ...]:
    """A dids_file's numbers: one per line, # comments and blank lines skipped."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise FieldRule(where, f"cannot read {path}: {exc.strerror or exc}") from None
    dids = [line.split("#", 1)[0].strip() for line in lines]
    for i, did in enumerate(dids):
        if did and not _DID.match(did):
            raise FieldRule(where, f"line {i + 1}: {did!r} is not a number like +15550000001")
    return tuple(d for d in dids if d)


def _nameserver(value: Any) -> tuple[str, int]:
    """`192.0.2.53`, `192.0.2.53:5353`, `2001:db8::53` or `[2001:db8::53]:5353`: an address, not a name."""
    if not isinstance(value, str):
        raise ValueError("must be an IP address, optionally with :port")
    text, port = value.strip(), 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not (rest[1:].isascii() and rest[1:].isdigit()):
                raise ValueError(f"{value!r} is not an address like [2001:db8::53]:53")
            port = int(rest[1:])
        text = host
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
        if not (port_text.isascii() and port_text.isdigit()):
            raise ValueError(f"{value!r} is not an address like 192.0.2.53:53")
        port = int(port_text)
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address (a name server is given by address)") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is outside 1 to 65535")
    return str(ip), port


NameServer = Annotated[
    tuple[str, int], BeforeValidator(_nameserver),
    PlainSerializer(lambda v: f"[{v[0]}]:{v[1]}" if ":" in v[0] else f"{v[0]}:{v[1]}", return_type=str),
    WithJsonSchema({"type": "string", "description": "an IP address, optionally with :port (default 53)"}),
]


class DnsSettings(Section):
    nameservers: list[NameServer] = Field(default_factory=list, description="name servers for the trunks' RFC 3263 "
                                                                            "lookups (NAPTR, SRV, A/AAAA), such as "
                                                                            "10.0.0.53 or 10.0.0.53:5353; empty: "
                                                                            "the system's (/etc/resolv.conf)")


_STORES = ("sqlite:///", "postgresql://", "postgres://", "postgresql+psycopg://")


class StorageConfig(Section):
    url: str = Field("sqlite:///trunkguard.db", description="sqlite:///PATH (one replica), or postgresql://"
                                                            "USER@HOST/DB for several (the psycopg 3 driver)")
    trace_retention: Retention = Field(86400.0, description="how long the daemon keeps its event trace for "
                                                           "`trunkguard replay` (0: no trace)")

    @model_validator(mode="after")
    def _known_store(self) -> StorageConfig:
        if not self.url.startswith(_STORES):
            scheme, sep, _ = self.url.partition("://")
            given = f"the scheme {scheme!r}" if sep and scheme.replace("+", "").isalnum() else "this value"
            # The URL may hold a password: it is never echoed back.
            raise FieldRule("url", f"{given} is not a store trunkguard can use: give sqlite:///PATH (one replica) "
                                   "or postgresql://USER@HOST/DB (several replicas, the psycopg 3 driver)")
        if self.url == "sqlite:///":
            raise FieldRule("url", "sqlite:/// needs a file path, such as sqlite:///var/lib/trunkguard/tg.db")
        return self


class ReplicaConfig(Section):
    """This process among several on one store: its name and the lease that decides which one acts."""

    name: Name | None = Field(None, description="this replica's name (its vantage's, when `vantages` lists it); "
                                                "`--name` or TRUNKGUARD_NAME give it per process; default: "
                                                "the host's name")
    lease_ttl: ProbeTime = Field(10.0, description="how long the lease outlives its last renewal, on the store's "
                                                   "clock; renewed every third of it. A standby takes over at "
                                                   "most this plus one renewal after the leader dies")

    @model_validator(mode="after")
    def _ttl(self) -> ReplicaConfig:
        if self.lease_ttl < 1.0:
            raise FieldRule("lease_ttl", f"must be at least 1s, not {format_duration(self.lease_ttl)} (a store "
                                         "round trip and a renewal must fit in a third of it)")
        return self


class VantagesConfig(Section):
    """Several places that probe the carriers: replicas and `trunkguard agent` processes, each by its
    name. With names listed, the primary counts as down only when `policy.quorum` of them agree."""

    names: list[Name] = Field(default_factory=list, description="the vantages that count, by name (replicas' "
                                                                "and agents'); empty: this replica alone judges")
    edge: bool = Field(False, description="the platform's edge view counts as one more vantage (named edge)")
    report_every: ProbeTime = Field(0.5, description="how often each process stores its view and reads the others'")
    stale_after: ProbeTime = Field(5.0, description="a vantage not heard of for this long is isolated: it does "
                                                    "not count")

    @model_validator(mode="after")
    def _names(self) -> VantagesConfig:
        seen: set[str] = set()
        for i, name in enumerate(self.names):
            if name in seen:
                raise FieldRule(f"names.{i}", f"{name!r} is listed twice")
            if name == "edge":
                raise FieldRule(f"names.{i}", "edge is the platform's view, counted already by `edge: true`: "
                                              "remove it from names" if self.edge else
                                              "edge is the platform's view: set `edge: true` instead")
            seen.add(name)
        if self.report_every <= 0:
            raise FieldRule("report_every", "must be more than 0")
        if self.stale_after < 2 * self.report_every:
            raise FieldRule("stale_after", f"must be at least twice report_every ({format_duration(self.report_every)})"
                                           f", not {format_duration(self.stale_after)}")
        return self


class ApiTls(Section):
    cert_file: ConfigPath = Field(description="the API's certificate (PEM, with its chain)")
    key_file: ConfigPath = Field(description="its private key (PEM)")
    ca_file: ConfigPath | None = Field(None, description="what the CLI verifies the API's certificate against "
                                                         "(default: the system's CAs)")


def is_loopback(host: str) -> bool:
    """Is this listen host reachable from this machine only?"""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NamedToken(Section):
    """One person's (or one tool's) token: its name is the `who` of every action it takes."""

    required_secrets: ClassVar[tuple[str, ...]] = ("token",)
    name: Name = Field(description="recorded as who acted, for every action taken with this token")
    token_env: EnvName | None = Field(None, description="the variable holding this token")
    token_file: SecretFile | None = Field(None, description="the file holding the token (instead of token_env)")
    role: Literal["operator", "reader"] = Field("operator", description="operator: actions and reads; reader: reads")


LISTEN = r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$"  # host:port, an IPv6 host in brackets


class ApiConfig(Section):
    listen: str = Field("127.0.0.1:8080", pattern=LISTEN,
                        description="host:port of the API, dashboard and /metrics (loopback by default)")
    metrics_listen: str | None = Field(None, pattern=LISTEN,
                                       description="host:port of a plain-HTTP listener serving only /metrics, "
                                                   "/healthz and /leader, with no token, for a Prometheus on "
                                                   "another host; the API stays on listen (behind TLS off "
                                                   "loopback). Off by default")
    token_env: EnvName | None = Field("TRUNKGUARD_API_TOKEN", description="the operator token's variable: "
                                      "actions (failover, failback, pause, ...), and reads")
    read_token_env: EnvName | None = Field(None, description="a read-only token's variable: status, history, "
                                                             "intents, checks and metrics; when set, reads need "
                                                             "this or the operator token (required off loopback)")
    token_file: SecretFile | None = Field(None, description="the file holding the operator token (instead of "
                                                            "token_env, whose default then does not apply)")
    read_token_file: SecretFile | None = Field(None, description="the file holding the read-only token (instead "
                                                                 "of read_token_env)")
    tokens: list[NamedToken] = Field(default_factory=list, description="named tokens, one per person or tool: "
                                                                       "the audit records the token's name as who "
                                                                       "acted (the CLI sends $TRUNKGUARD_TOKEN); "
                                                                       "with any set, reads need a token too "
                                                                       "(api.open_endpoints excepted)")
    tls: ApiTls | None = Field(None, description="serve HTTPS (required when listen is not a loopback address)")
    open_endpoints: list[Literal["metrics", "leader"]] = Field(
        default_factory=list, description="served without a token even when reads need one: /metrics for "
                                          "scrapers, /leader for load balancers")
    max_body: int = Field(65_536, ge=1024, le=10_485_760, description="request bodies larger than this many "
                                                                      "bytes are refused (413)")

    @model_validator(mode="before")
    @classmethod
    def _token_file_replaces_the_default(cls, data: Any) -> Any:
        """token_env's default (TRUNKGUARD_API_TOKEN) gives way to a token_file."""
        if isinstance(data, dict) and data.get("token_file") is not None and "token_env" not in data:
            data = {**data, "token_env": None}
        return data

    @model_validator(mode="after")
    def _exposure(self) -> ApiConfig:
        host, _, port_text = self.listen.rpartition(":")
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise FieldRule("listen", f"port {port} is outside 1 to 65535")
        if self.metrics_listen is not None:
            metrics_host, _, metrics_port = self.metrics_listen.rpartition(":")
            if not 1 <= int(metrics_port) <= 65535:
                raise FieldRule("metrics_listen", f"port {int(metrics_port)} is outside 1 to 65535")
            if int(metrics_port) == port and (metrics_host == host or "0.0.0.0" in (host, metrics_host)
                                              or "[::]" in (host, metrics_host)):
                raise FieldRule("metrics_listen", f"{self.metrics_listen} is the API's own address ({self.listen}): "
                                                  "give the metrics their own port")
        if not is_loopback(host):
            # Anyone on the network can reach it: the tokens must not cross it in clear, and reads are
            # no longer private to this machine.
            named = {t.role for t in self.tokens}
            given = {"tls": self.tls is not None, "token_env": self.secret("token") != (None, None),
                     "read_token_env": self.secret("read_token") != (None, None)}
            for key, why in (("tls", "the tokens would cross the network in clear"),
                             ("token_env", "anyone on the network could act"),
                             ("read_token_env", "anyone on the network could read the routing and the audit")):
                if not given[key] and not (key == "token_env" and "operator" in named) \
                        and not (key == "read_token_env" and named):
                    raise FieldRule(key, f"is required when api.listen ({self.listen}) is not a loopback address: "
                                         f"{why}")
        names = [t.name for t in self.tokens]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise FieldRule(f"tokens.{i}.name", f"{name!r} is given twice: each name is one person or tool")
        return self


Severity = Literal["info", "warning", "critical"]
MIN_SEVERITY = "the least severe notification sent (an incident's resolve is always sent)"


class PagerDutyNotify(Section):
    kind: Literal["pagerduty"] = Field(description="PagerDuty Events v2")
    required_secrets: ClassVar[tuple[str, ...]] = ("routing_key",)
    routing_key_env: EnvName | None = Field(None, description="the variable holding the routing key")
    routing_key_file: SecretFile | None = Field(None, description="the file holding the routing key (instead "
                                                                  "of routing_key_env)")
    base_url: str = Field("https://events.pagerduty.com", description="the Events API's base URL")
    min_severity: Severity = Field("warning", description=MIN_SEVERITY)


class OpsgenieNotify(Section):
    kind: Literal["opsgenie"] = Field(description="Opsgenie alerts")
    required_secrets: ClassVar[tuple[str, ...]] = ("api_key",)
    api_key_env: EnvName | None = Field(None, description="the variable holding the API key")
    api_key_file: SecretFile | None = Field(None, description="the file holding the API key (instead of api_key_env)")
    base_url: str = Field("https://api.opsgenie.com", description="EU: https://api.eu.opsgenie.com; Opsgenie's "
                                                                  "API is being replaced by Jira Service Management's")
    min_severity: Severity = Field("warning", description=MIN_SEVERITY)


class SlackNotify(Section):
    kind: Literal["slack"] = Field(description="a Slack incoming webhook")
    required_secrets: ClassVar[tuple[str, ...]] = ("webhook_url",)
    webhook_url_env: EnvName | None = Field(None, description="the variable holding the webhook URL")
    webhook_url_file: SecretFile | None = Field(None, description="the file holding the webhook URL (instead "
                                                                  "of webhook_url_env)")
    min_severity: Severity = Field("info", description=MIN_SEVERITY)


class WebhookNotify(Section):
    kind: Literal["webhook"] = Field(description="a JSON POST to any URL")
    required_secrets: ClassVar[tuple[str, ...]] = ("url",)
    url_env: EnvName | None = Field(None, description="the variable holding the URL")
    url_file: SecretFile | None = Field(None, description="the file holding the URL (instead of url_env)")
    min_severity: Severity = Field("info", description=MIN_SEVERITY)


Notifier = Annotated[PagerDutyNotify | OpsgenieNotify | SlackNotify | WebhookNotify,
                     Field(discriminator="kind")]


class Config(Section):
    _source_dir: Path | None = PrivateAttr(None)  # the config file's folder (parse_config's base_dir)
    _routing_groups: tuple[RoutingGroup, ...] = PrivateAttr(())  # made once, when the config is validated
    carriers: Carriers = Field(description="the carriers by name (at least two); `primary` and `secondary`, or "
                                           "any names with `chain` (or `groups`)")
    chain: list[Name] | None = Field(None, description="the carriers in priority order, first preferred: calls go "
                                                       "to the first that is usable and ready (default, for carriers "
                                                       "named primary and secondary: [primary, secondary]). Not "
                                                       "given with groups, each of which has its own; once read, "
                                                       "it holds the first group's chain")
    tls: TlsPolicy = Field(TlsPolicy(), description="certificate checks across trunks")
    policy: Policy = Field(Policy(), description="when to swap, when to return, and what must hold first (with "
                                                 "groups: what each group's own policy is merged over)")
    platform: PlatformConfig | None = Field(None, description="where inbound routing is switched (needed by run "
                                                               "and cycle). With groups: what every group shares "
                                                               "(kind, base_url, credentials, timeouts), each "
                                                               "group's routing objects merged over it; once read, it "
                                                               "holds the first group's merged platform")
    groups: dict[Name, GroupConfig] | None = Field(
        None, description="routing groups by name: independent operations (e.g. na, emea) in one deployment, each "
                          "with its own chain, DIDs, policy and routing objects; without it the config is one group "
                          "(default) of chain, policy and platform. The carriers stay under carriers, each probed "
                          "once however many groups list it, and are read in order of first appearance across the "
                          "groups' chains. A carrier first in any group keeps health.down_after's 3 by default; "
                          "every other carrier gets 2. No two groups may share routing objects")
    storage: StorageConfig = Field(StorageConfig(), description="the store: state, audit trail, checks, trace, lease")
    api: ApiConfig = Field(ApiConfig(), description="the daemon's REST API, dashboard and /metrics")
    dns: DnsSettings = Field(DnsSettings(), description="name resolution for trunks given by name")
    notify: list[Notifier] = Field([], description="where pages and notices go (PagerDuty, Opsgenie, Slack, webhook)")
    replica: ReplicaConfig = Field(ReplicaConfig(), description="this process among replicas: its name, the lease")
    vantages: VantagesConfig = Field(VantagesConfig(), description="several places that probe, and the quorum")

    @model_validator(mode="before")
    @classmethod
    def _later_default(cls, data: Any) -> Any:
        """The guide's asymmetry: every carrier after the first is marked down after 2 failures, not 3.
        With groups, a carrier first in any group keeps 3: it is some group's primary."""
        if not isinstance(data, dict) or not isinstance(data.get("carriers"), dict):
            return data
        named = set(data["carriers"])
        if isinstance(data.get("groups"), dict):
            if data.get("chain") is not None:
                raise FieldRule("chain", "use each group's chain under groups: with groups, there is no chain "
                                         "of the whole config")
            chains = [[c for c in g["chain"] if isinstance(c, str)] for g in data["groups"].values()
                      if isinstance(g, dict) and isinstance(g.get("chain"), list)]
            firsts = {chain[0] for chain in chains if chain}
            later = [name for chain in chains for name in chain[1:] if name not in firsts]
        else:
            if data.get("chain") is None and named < set(PAIR):  # none, or half a pair: name the first missing
                raise FieldRule(f"carriers.{next(r for r in PAIR if r not in named)}", "is required")
            later = (_chain_of(data.get("chain"), data["carriers"]) or [])[1:]
        carriers = dict(data["carriers"])
        for name in dict.fromkeys(later):
            carrier = carriers.get(name)
            if isinstance(carrier, dict):
                health = carrier.get("health", {})
                if isinstance(health, dict) and "down_after" not in health:
                    carriers[name] = {**carrier, "health": {**health, "down_after": 2}}
        return {**data, "carriers": carriers}

    @model_validator(mode="after")
    def _chain(self) -> Config:
        names = list(self.carriers.root)
        if self.groups is not None:
            if not self.groups:
                raise FieldRule("groups", "name at least one group with its chain, or leave groups out for one "
                                          "chain")
            order: list[str] = []
            for group_name, group in self.groups.items():
                for i, name in enumerate(group.chain):
                    if name not in self.carriers.root:
                        raise FieldRule(f"groups.{group_name}.chain[{i}]",
                                        f"{name!r} is not a carrier: carriers has {', '.join(names)}")
                    if name not in order:
                        order.append(name)
            for name in names:
                if name not in order:
                    raise FieldRule(f"carriers.{name}", "is in no group's chain: list it in a group, or remove it")
            chain = list(next(iter(self.groups.values())).chain)
        else:
            found = _chain_of(self.chain, names)
            if found is None:
                raise FieldRule("chain", "list the carriers in priority order, first preferred (e.g. chain: "
                                         f"[{', '.join(names)}]): needed unless the carriers are named primary "
                                         "and secondary")
            chain = order = found
            if len(chain) < 2:
                raise FieldRule("chain", "a chain needs at least two carriers: one to take the calls when the "
                                         "other is down")
            for i, name in enumerate(chain):
                if name not in self.carriers.root:
                    raise FieldRule(f"chain[{i}]", f"{name!r} is not a carrier: carriers has {', '.join(names)}")
                if name in chain[:i]:
                    raise FieldRule(f"chain[{i}]", f"{name!r} is listed twice; each carrier has one place in the "
                                                   "chain")
            for name in names:
                if name not in chain:
                    raise FieldRule(f"carriers.{name}", "is not in the chain: list it in chain, or remove it")
        object.__setattr__(self, "carriers", Carriers({name: self.carriers.root[name] for name in order}))
        object.__setattr__(self, "chain", list(chain))
        seen: set[str] = set()
        where: dict[tuple[str, str, int | None, str], tuple[str, str]] = {}
        groups: dict[str, str] = {}
        for role, carrier in self.carriers.items():
            for i, trunk in enumerate(carrier.trunks):
                if trunk.name in seen:
                    raise FieldRule(f"carriers.{role}.trunks[{i}].name",
                                    f"{trunk.name!r} is used twice; trunk names must be unique")
                seen.add(trunk.name)
                uri = trunk.sip_uri
                key = (uri.scheme, uri.host.lower(), uri.port, uri.transport.value)
                other = where.get(key)
                if other is not None and other[0] != role:
                    raise FieldRule(f"carriers.{role}.trunks[{i}].uri",
                                    f"{trunk.uri!r} is the same SIP peer as {other[1]}: the {role} would fail with "
                                    f"the {other[0]}")
                where.setdefault(key, (role, f"{role}.trunks[{i}] ({trunk.name})"))
            if carrier.trunk_group_id in groups:
                raise FieldRule(f"carriers.{role}.trunk_group_id",
                                f"{carrier.trunk_group_id!r} is the {groups[carrier.trunk_group_id]}'s "
                                "trunk_group_id too: a swap between them would change nothing")
            groups[carrier.trunk_group_id] = role
        return self

    @model_validator(mode="after")
    def _primary_down_when(self) -> Config:
        if self.groups is not None:  # checked for each group's policy, against its own first carrier
            return self
        below = self.policy.primary_down_when.fewer_usable_than
        count = len(self.carriers.first.trunks)
        if below is not None and below > count:
            raise FieldRule("policy.primary_down_when.fewer_usable_than",
                            f"must be at most the {self.carriers.chain[0]}'s {count} trunk{'s' if count != 1 else ''}, "
                            f"not {below}: "
                            "with fewer trunks than that, the primary would count as down from the start")
        return self

    @model_validator(mode="after")
    def _quorum(self) -> Config:
        if self.vantages.edge and self.groups is not None and len(self.groups) > 1:
            raise FieldRule("vantages.edge", "cannot count with several routing groups: the platform's edge view "
                                             "is read for the first group's carriers only, so every other group's "
                                             "quorum would see it as isolated")
        counted = len(self.vantages.names) + self.vantages.edge
        q = self.policy.quorum
        if counted and isinstance(q, int) and q > counted:
            raise FieldRule("policy.quorum", f"must be at most the {counted} configured vantages, not {q}")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _routing(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Config:
        """The routing groups, made once, when every other rule of the config holds (defined last, this
        runs outermost). A group's policy and platform are the top-level ones as written with the group's
        keys merged over them, checked whole: with groups the top-level platform need not name routing
        objects, each group gives its own."""
        raw = data if isinstance(data, dict) else None
        if raw is not None and isinstance(raw.get("groups"), dict) and isinstance(raw.get("platform"), dict):
            data = {**raw, "platform": None}  # checked below, once merged with each group's
        config = handler(data)  # pydantic's older wrap handler is untyped: it gives the Config it built
        assert isinstance(config, Config)
        if config.groups is None:
            config._routing_groups = (config._default_group(),)
        elif raw is not None:
            made = tuple(config._group(name, group, raw) for name, group in config.groups.items())
            _distinct_routing(made)
            config._routing_groups = made
            object.__setattr__(config, "platform", made[0].platform)
        return config

    def _default_group(self) -> RoutingGroup:
        """A config without groups as its one group: the chain, the policy and the platform as they are."""
        return RoutingGroup(DEFAULT_GROUP, self.carriers.chain, self.policy, self.platform)

    def _group(self, name: str, group: GroupConfig, raw: Mapping[str, Any]) -> RoutingGroup:
        """Group `name` made: its policy and platform merged over the top-level ones as written (`raw`),
        each checked as the top-level one is, and the rules that hold a group's parts together."""
        where = f"groups.{name}"
        for path in DEPLOYMENT_POLICY:  # one loop, one quorum, one re-check schedule for every group
            head, _, tail = path.partition(".")
            given = (group.policy or {}).get(head)
            if given is not None and (not tail or (isinstance(given, dict) and tail in given)):
                raise FieldRule(f"{where}.policy.{path}", "is the deployment's, set once under policy: the "
                                                         "groups share one loop, one quorum and one re-check "
                                                         "schedule")
        try:
            policy = Policy.model_validate(_deep_merge(_as_mapping(raw.get("policy")), group.policy or {}))
        except ValidationError as exc:
            path, rule = describe(exc, Policy)[0]
            raise FieldRule(f"{where}.policy" + ("" if path == "(top)" else f".{path}"), rule) from None
        platform: PlatformConfig | None = None
        own = group.platform.model_dump(exclude_unset=True) if group.platform is not None else {}
        if raw.get("platform") is None:
            if group.platform is not None:
                raise FieldRule(f"{where}.platform", "needs the top-level platform: kind, base_url and the "
                                                     "credentials are set once for every group, under platform")
        else:
            try:
                platform = PlatformConfig.model_validate(_deep_merge(_as_mapping(raw.get("platform")), own))
            except ValidationError as exc:
                path, rule = describe(exc, PlatformConfig)[0]
                key = re.split(r"[.\[]", path, maxsplit=1)[0]
                # a key is named where it was written: the group's own keys, and the routing objects it lacks,
                # under the group; the shared ones under platform
                base = f"{where}.platform" if key in own or key in ROUTING_KEYS or path == "(top)" else "platform"
                raise FieldRule(base + ("" if path == "(top)" else f".{path}"), rule) from None
        first = self.carriers[group.chain[0]]
        below, count = policy.primary_down_when.fewer_usable_than, len(first.trunks)
        if below is not None and below > count:
            raise FieldRule(f"{where}.policy.primary_down_when.fewer_usable_than",
                            f"must be at most the {group.chain[0]}'s {count} trunk{'s' if count != 1 else ''}, "
                            f"not {below}: with fewer trunks than that, the {group.chain[0]} would count as down "
                            "from the start")
        counted = len(self.vantages.names) + self.vantages.edge
        if counted and isinstance(policy.quorum, int) and policy.quorum > counted:
            raise FieldRule(f"{where}.policy.quorum",
                            f"must be at most the {counted} configured vantages, not {policy.quorum}")
        dids = tuple(group.dids or ()) if group.dids_file is None else _read_dids(group.dids_file,
                                                                                   f"{where}.dids_file")
        later = [self.carriers[carrier] for carrier in group.chain[1:]]
        if policy.readiness.sweep and not dids and not all(c.dids or c.dids_file is not None for c in later):
            raise FieldRule(f"{where}.dids", "is required while the group's sweep gate is on "
                                             "(policy.readiness.sweep): list the numbers the sweep calls, or turn "
                                             "the gate off for this group")
        return RoutingGroup(name, tuple(group.chain), policy, platform, dids)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Config:
        """A copy with `update` applied, unchecked (pydantic's); a config without groups has its one group
        made again, so it stays the chain, policy and platform the copy has."""
        copy = super().model_copy(update=update, deep=deep)
        if copy.groups is None:
            copy._routing_groups = (copy._default_group(),)
        return copy

    def routing_groups(self) -> tuple[RoutingGroup, ...]:
        """The routing groups in the config's order; for a config without `groups`, one: DEFAULT_GROUP."""
        return self._routing_groups

    @property
    def source_dir(self) -> Path | None:
        """The folder of the file this config was read from: where a relative `*_file` secret is, outside
        systemd (None for a config not read from a file: the working directory)."""
        return self._source_dir

    def all_trunks(self) -> list[tuple[str, CarrierConfig, TrunkConfig]]:
        return [(role, carrier, trunk) for role, carrier in self.carriers.items() for trunk in carrier.trunks]


# Policy settings a group may not set for itself: they run once for the whole deployment.
DEPLOYMENT_POLICY = ("poll_interval", "quorum", "readiness.recheck_interval", "readiness.sweep_interval",
                     "readiness.sweep_max_age", "readiness.certs_max_age", "readiness.parity_max_age")


def _routing_objects(platform: PlatformConfig) -> list[tuple[str, str]]:
    """(what, how it is said) for each platform object a group's swap writes."""
    if platform.kind == "genesys":
        row = [(f"row {platform.datatable_id}/{platform.datatable_row}",
                f"data table row {platform.datatable_id}/{platform.datatable_row}")] if platform.datatable_id else []
        return row + [(f"route {r}", f"outbound route {r!r}") for r in platform.route_limits()[1]]
    if platform.kind == "cxone":
        return [(f"poc {platform.point_of_contact_id}", f"point_of_contact_id {platform.point_of_contact_id!r}")]
    return [(f"rule {platform.rule_id}", f"rule_id {platform.rule_id!r}")]


def _distinct_routing(groups: tuple[RoutingGroup, ...]) -> None:
    """No two groups may write the same routing object: a swap in one would move the other's calls."""
    if len(groups) < 2:
        return
    owner: dict[str, str] = {}
    for group in groups:
        platform = group.platform
        if platform is None:
            continue
        where = f"groups.{group.name}.platform"
        if platform.kind == "genesys" and not platform.route_limits()[1]:
            # without a list, a swap moves every outbound route using the group's carriers (the sites
            # filter aside): with a carrier shared, that is another group's route too
            raise FieldRule(where, "needs outbound_routes of its own: with several groups, a swap moves only the "
                                   "routes listed, so one group's swap never moves another's routing")
        if platform.kind == "genesys" and platform.manage_trunk_enabled and any(
                group.chain[0] in other.chain for other in groups if other is not group):
            raise FieldRule(f"{where}.manage_trunk_enabled", f"takes carrier {group.chain[0]}'s trunk out of "
                                                           "service on a move, but another group routes to it too")
        for key, said in _routing_objects(platform):
            if key in owner:
                raise FieldRule(where, f"names the same {said} as group {owner[key]}: one group's swap would move "
                                       "the other's routing; give each group its own")
            owner.setdefault(key, group.name)


def with_listen(config: Config, listen: str) -> Config:
    """The config with the API served at `listen` (`--listen`), checked by api.listen's rules."""
    try:
        api = ApiConfig.model_validate({**config.api.model_dump(), "listen": listen})
    except ValidationError as exc:
        raise ConfigError([("--listen", "; ".join(str(e["msg"]) for e in exc.errors()))], "--listen") from None
    return config.model_copy(update={"api": api})


def load_config(path: str | Path) -> Config:
    """Read and validate a config file. Raises ConfigError listing every problem."""
    path = Path(path)
    try:
        data = read_file(path)
    except OSError as exc:
        raise ConfigError([(str(path), f"cannot read: {exc.strerror or exc}")], str(path)) from None
    except YamlRefused as exc:
        raise ConfigError([(exc.where, exc.rule)], str(path)) from None
    return parse_config(data, source=str(path), base_dir=path.parent)


def parse_config(text: str | bytes, *, source: str = "config", base_dir: Path | None = None) -> Config:
    try:
        data = load_yaml(text)
    except YamlRefused as exc:
        raise ConfigError([(exc.where, exc.rule)], source) from None
    if not isinstance(data, dict):
        raise ConfigError([("(top)", "the file must be a YAML mapping with a carriers section")], source)
    try:
        config = Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc), source) from None
    config._source_dir = base_dir
    return config


def describe_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """Pydantic's errors as (dotted field path, rule) pairs, for a config file."""
    return describe(exc, Config)


SCHEMA_ID = "urn:trunkguard:config:v1"  # the file itself is in the repository: schema/trunkguard.schema.json


def json_schema() -> dict[str, Any]:
    schema = Config.model_json_schema()
    # A group's policy is kept as written, to be merged over the top-level one; editors check it as a policy.
    group_policy = schema["$defs"]["GroupConfig"]["properties"]["policy"]
    group_policy["anyOf"] = [{"$ref": "#/$defs/Policy"}, {"type": "null"}]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "trunkguard configuration"
    return schema
