"""The documented exception hierarchy.

Foreign exceptions (OSError, ssl.SSLError, dns.exception.DNSException, pydantic's
ValidationError, httpx's errors and statuses, SQLAlchemy's errors) are translated into these at
the module boundary that meets them, so callers handle one family. Every message is written for
an operator.

    TrunkguardError
    ├── ConfigError            a config, scenario or environment that breaks a rule (names the field)
    ├── SipError               the SIP layer: SipParseError, SipUriError, ResolveError,
    │                          TransportError (TlsError)
    ├── PlatformError          the platform did not do what was asked; whether it did is unknown
    │   ├── Refused            a definite refusal (4xx other than 409/429): it did not happen
    │   │   └── AuthError      our credentials were refused
    │   ├── VersionConflict    the object changed since it was read
    │   └── TrunkSettingsUnreadable  a carrier's trunk settings could not be read (live parity)
    ├── NotifyError            a notification not delivered (retryable or not)
    ├── StoreError             the store cannot be read or written
    │   └── LeaseLost          ... because this replica's lease term is stale (also a LeaseError)
    └── LeaseError             this replica does not, or may no longer, hold the lease
        └── LeaseGone          a swap stopped before a platform write: the lease is near expiry
"""

from __future__ import annotations


class TrunkguardError(Exception):
    """Base of every error trunkguard raises on purpose."""


class ConfigError(TrunkguardError):
    """A configuration file that breaks a rule. `problems` holds (field path, rule) pairs."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  {path}: {rule}" for path, rule in problems)
        super().__init__(f"{source} is not valid:\n{lines}")


class SipError(TrunkguardError):
    """Base of the SIP layer's errors."""


class SipParseError(SipError):
    """Bytes that are not a SIP message we accept (malformed, or over a hard limit)."""


class SipUriError(SipError, ValueError):
    """A SIP URI that cannot be used as a probe target."""


class ResolveError(SipError):
    """RFC 3263 resolution found no usable target (DNS failure, no records, timeout)."""


class TransportError(SipError):
    """A transport could not carry the request (connection refused, TLS failure, reset)."""


class TlsError(TransportError):
    """The TLS handshake failed, for example the peer certificate did not verify."""


class PlatformError(TrunkguardError):
    """The platform did not do what was asked within the deadline; whether it did is not known."""


class Refused(PlatformError):
    """A definite refusal (a 4xx other than 409 and 429): the write did not and will not happen."""


class AuthError(Refused):
    """The platform refused our credentials."""


class VersionConflict(PlatformError):
    """The object changed since it was read (someone else wrote it, or our read was stale)."""


class TrunkSettingsUnreadable(PlatformError):
    """A carrier's trunk settings could not be read: `role`, the object's `id` and `why` ("403:
    missing telephony:plugin:all"), for the sentence "could not read the secondary carrier's ..."."""

    def __init__(self, role: str, object_id: str, why: str) -> None:
        super().__init__(f"could not read the {role} carrier's trunk base {object_id} ({why})")
        self.role, self.object_id, self.why = role, object_id, why


class NotifyError(TrunkguardError):
    """A notification that was not delivered; `retryable` for 429, 5xx and network errors, with the
    server's Retry-After in seconds when it gave one."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class ListenError(TrunkguardError):
    """A server trunkguard runs (the API) cannot listen: the address is in use or refused, or its
    certificate does not load."""


class StoreError(TrunkguardError):
    """The store could not be reached or refused a write."""


class LeaseError(TrunkguardError):
    """This replica does not, or may no longer, hold the lease: it must not act."""


class LeaseLost(StoreError, LeaseError):
    """Another replica holds the lease now (or it expired): a write under this term was refused."""


class LeaseGone(LeaseError):
    """The swap protocol stopped before a platform write: the lease is near expiry (or lost)."""
