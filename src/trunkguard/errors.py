"""The documented exception hierarchy.

Foreign exceptions (OSError, ssl.SSLError, dns.exception.DNSException, pydantic's
ValidationError) are translated into these at the module boundary that meets them, so
callers handle one family. Every message is written for an operator.
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
