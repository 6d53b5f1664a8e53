"""Who may do what on the API: the operator token acts (and reads); the read token reads; each
named token (`api.tokens`) does what its role allows, and its name is recorded as who acted.

A request carries `Authorization: Bearer <token>` (RFC 6750: the scheme is case-insensitive, one
space, the token as issued); anything else carries no token. Tokens are compared in constant time.
Without a read token configured (allowed on loopback only), reads need no token; `open_endpoints`
(metrics, leader) never need one. An action with a token that may only read is forbidden (403, "this
token may only read"); one with no valid token is unauthorized (401).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection


def bearer(request: HTTPConnection) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, sep, token = header.partition(" ")
    if not sep or scheme.lower() != "bearer" or not token or token != token.strip():
        return None
    return token


@dataclass(frozen=True)
class NamedToken:
    name: str
    token: str
    role: str  # operator | reader


SHARED = ""  # who acted with the shared operator token, or on a loopback API without tokens: the body says


@dataclass(frozen=True)
class ApiTokens:
    operator: str | None = None  # None with no named operator token: no auth at all (loopback, none set)
    reader: str | None = None
    open_endpoints: frozenset[str] = field(default_factory=frozenset)
    named: tuple[NamedToken, ...] = ()

    def _is(self, given: str | None, expected: str | None) -> bool:
        return given is not None and expected is not None and hmac.compare_digest(given.encode(), expected.encode())

    def _named(self, given: str | None) -> NamedToken | None:
        found = None
        for t in self.named:  # every one compared, in constant time each
            if self._is(given, t.token):
                found = t
        return found

    def actor(self, request: HTTPConnection) -> str | None:
        """Who may act with this request: a named token's name, SHARED for the shared operator token
        (or no auth at all), None when it may not act."""
        given = bearer(request)
        named = self._named(given)
        if named is not None:
            return named.name if named.role == "operator" else None
        if self.operator is None:
            return None if any(t.role == "operator" for t in self.named) else SHARED
        return SHARED if self._is(given, self.operator) else None

    def can_act(self, request: HTTPConnection) -> bool:
        return self.actor(request) is not None

    def only_reads(self, request: HTTPConnection) -> bool:
        """The request carries a valid token that may read but not act (the read token, a named
        reader): refused an action with 403, where a wrong or missing token gets 401."""
        if self.actor(request) is not None:
            return False
        given = bearer(request)
        named = self._named(given)
        return (named is not None and named.role == "reader") or self._is(given, self.reader)

    def can_read(self, request: HTTPConnection, endpoint: str = "") -> bool:
        if (self.reader is None and not self.named) or endpoint in self.open_endpoints:
            return True
        given = bearer(request)
        return self._is(given, self.reader) or self._is(given, self.operator) or self._named(given) is not None
