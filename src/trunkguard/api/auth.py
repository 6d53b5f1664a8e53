"""Who may do what on the API: the operator token acts (and reads); the read token reads.

A request carries `Authorization: Bearer <token>` (RFC 6750: the scheme is case-insensitive, one
space, the token as issued); anything else carries no token. Tokens are compared in constant time.
Without a read token configured (allowed on loopback only), reads need no token; `open_endpoints`
(metrics, leader) never need one.
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
class ApiTokens:
    operator: str | None = None  # None: nobody may act (no token_env), or no auth at all (loopback, none set)
    reader: str | None = None
    open_endpoints: frozenset[str] = field(default_factory=frozenset)

    def _is(self, given: str | None, expected: str | None) -> bool:
        return given is not None and expected is not None and hmac.compare_digest(given.encode(), expected.encode())

    def can_act(self, request: HTTPConnection) -> bool:
        if self.operator is None:
            return True  # loopback without any token: the operator's own machine
        return self._is(bearer(request), self.operator)

    def can_read(self, request: HTTPConnection, endpoint: str = "") -> bool:
        if self.reader is None or endpoint in self.open_endpoints:
            return True
        given = bearer(request)
        return self._is(given, self.reader) or self._is(given, self.operator)
