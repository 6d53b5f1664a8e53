"""SIP URIs as trunk targets: `sip:[user@]host[:port][;params]` and `sips:`."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum

from trunkguard.errors import SipUriError


class Transport(StrEnum):
    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"

    @property
    def via_token(self) -> str:
        return self.value.upper()

    @property
    def reliable(self) -> bool:
        return self is not Transport.UDP


@functools.lru_cache(maxsize=4096)
def _is_ip(host: str) -> bool:
    """Asked for every probe: parsed once per host."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class SipUri:
    scheme: str
    host: str
    port: int | None = None
    user: str | None = None
    params: tuple[tuple[str, str], ...] = field(default=())

    @property
    def transport(self) -> Transport:
        """The transport the URI asks for: its `transport=` parameter, TLS for sips:, else UDP."""
        value = dict(self.params).get("transport")
        if value is not None:
            return Transport(value)
        return Transport.TLS if self.scheme == "sips" else Transport.UDP

    @property
    def explicit_transport(self) -> bool:
        return "transport" in dict(self.params) or self.scheme == "sips"

    @property
    def is_ip(self) -> bool:
        return _is_ip(self.host)

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        params = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params)
        return f"{self.scheme}:{user}{self.hostport}{params}"

    def with_user(self, user: str | None) -> SipUri:
        return SipUri(self.scheme, self.host, self.port, user, self.params)


def parse_uri(text: str) -> SipUri:
    """Parse a SIP URI, or raise SipUriError saying what is wrong with it."""
    raw = text.strip()
    scheme, sep, rest = raw.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("sip", "sips"):
        raise SipUriError(f"{text!r} is not a SIP URI: it must start with sip: or sips:")
    rest, _, _headers = rest.partition("?")
    hostpart, *param_parts = rest.split(";")
    user: str | None = None
    if "@" in hostpart:
        user, _, hostpart = hostpart.rpartition("@")
        user = user or None
    host, port = _split_hostport(hostpart, text)
    params: list[tuple[str, str]] = []
    for part in param_parts:
        if not part:
            continue
        key, _, value = part.partition("=")
        key = key.strip().lower()
        params.append((key, value.strip().lower() if key == "transport" else value.strip()))
    uri = SipUri(scheme, host, port, user, tuple(params))
    transport = dict(uri.params).get("transport")
    if transport is not None and transport not in {t.value for t in Transport}:
        raise SipUriError(f"{text!r}: transport={transport} is not supported (use udp, tcp or tls)")
    if scheme == "sips" and transport in ("udp", "tcp"):
        raise SipUriError(f"{text!r}: a sips: URI needs TLS, not transport={transport}")
    return uri


def _split_hostport(hostpart: str, text: str) -> tuple[str, int | None]:
    if not hostpart:
        raise SipUriError(f"{text!r} has no host")
    if hostpart.startswith("["):
        host, sep, tail = hostpart[1:].partition("]")
        if not sep:
            raise SipUriError(f"{text!r}: unclosed '[' in IPv6 host")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SipUriError(f"{text!r}: {host!r} is not an IPv6 address") from None
        port_text = tail[1:] if tail.startswith(":") else ""
        if tail and not tail.startswith(":"):
            raise SipUriError(f"{text!r}: unexpected {tail!r} after the IPv6 host")
    else:
        host, _, port_text = hostpart.partition(":")
        if not host or any(c in host for c in " <>\"[]"):
            raise SipUriError(f"{text!r}: {host!r} is not a host name or address")
    port: int | None = None
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise SipUriError(f"{text!r}: port {port_text!r} is not a number from 1 to 65535")
        port = int(port_text)
    return host.lower(), port
