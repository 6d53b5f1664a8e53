"""The TLS certificate of a trunk's peer: who it names, when it expires, whether it verifies.

Two handshakes: the first without verification, so even an expired or untrusted certificate can
be read and reported; the second with the trunk's CA settings, which decides `chain_ok`. The name
check (`hostname_ok`) compares the URI's host with the certificate's subjectAltName. Python 3.11's
ssl module exposes the leaf certificate only, so the chain is judged by OpenSSL's verification.
Where the trunk has SPKI pins (`tls.pin_sha256`), the leaf's public key is held against them
(`pin`: match or mismatch); a mismatch fails the check under `pin_mode: enforce` only. The files
are read as they are now, every time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509

from trunkguard.errors import ResolveError
from trunkguard.probing.tls_files import TlsFiles
from trunkguard.sip.client import Target
from trunkguard.sip.resolve import resolve
from trunkguard.sip.transport import client_tls_context, spki_sha256
from trunkguard.sip.uri import SipUri


@dataclass(frozen=True)
class CertReport:
    trunk: str
    subject: str | None = None
    not_after: str | None = None
    days_left: float | None = None
    hostname_ok: bool = False
    chain_ok: bool = False
    error: str | None = None
    spki_sha256: str | None = None   # the leaf's public key (SHA-256 of its SubjectPublicKeyInfo)
    pin: str | None = None           # "match" or "mismatch" against tls.pin_sha256; None: no pins
    pin_mode: str | None = None      # report | enforce, where there are pins

    def as_dict(self) -> dict[str, object]:
        row: dict[str, object] = {"trunk": self.trunk, "subject": self.subject, "not_after": self.not_after,
                                  "days_left": self.days_left, "hostname_ok": self.hostname_ok,
                                  "chain_ok": self.chain_ok}
        if self.pin is not None:
            row.update(pin=self.pin, pin_mode=self.pin_mode, spki_sha256=self.spki_sha256)
        if self.error:
            row["error"] = self.error
        return row

    def healthy(self, warn_days: float) -> bool:
        return (self.error is None and self.chain_ok and self.hostname_ok and self.days_left is not None
                and self.days_left > warn_days)


async def _handshake(target: Target, ctx: ssl.SSLContext, timeout: float) -> bytes:
    async with asyncio.timeout(timeout):
        _, writer = await asyncio.open_connection(target.host, target.port, ssl=ctx,
                                                  server_hostname=target.server_name or target.host)
    try:
        obj = writer.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True) if obj is not None else None
        if not der:
            raise ssl.SSLError("the peer sent no certificate")
        return bytes(der)
    finally:
        writer.close()


def name_matches(cert: x509.Certificate, host: str) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return ip in san.get_values_for_type(x509.IPAddress)
    host = host.lower().rstrip(".")
    for name in san.get_values_for_type(x509.DNSName):
        name = name.lower().rstrip(".")
        if name == host or (name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]):
            return True
    return False


async def inspect(trunk: str, target: Target, tls: TlsFiles, *, timeout: float = 5.0,
                  now: dt.datetime | None = None) -> CertReport:
    reader = client_tls_context(cert_file=tls.cert_file, key_file=tls.key_file, verify=False)
    try:
        der = await _handshake(target, reader, timeout)
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        return CertReport(trunk, error=f"TLS handshake with {target.host}:{target.port} failed: {exc or 'timeout'}")
    cert = x509.load_der_x509_certificate(der)
    expires = cert.not_valid_after_utc
    days_left = round((expires - (now or dt.datetime.now(dt.UTC))).total_seconds() / 86400, 2)
    verifier = client_tls_context(ca_file=tls.ca_file, cert_file=tls.cert_file, key_file=tls.key_file, verify=True)
    verifier.check_hostname = False  # the name is judged separately, so each failure is named
    chain_ok = True
    error = None
    try:
        await _handshake(target, verifier, timeout)
    except ssl.SSLCertVerificationError as exc:
        chain_ok, error = False, f"certificate did not verify: {exc.verify_message}"
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        chain_ok, error = False, f"verifying handshake failed: {exc or 'timeout'}"
    key = spki_sha256(der)
    pin = None if not tls.pins else "match" if key in tls.pins else "mismatch"
    if pin == "mismatch" and tls.pin_mode == "enforce" and error is None:
        error = f"its public key (SHA-256 {key}) matches none of tls.pin_sha256 (pin_mode enforce)"
    return CertReport(trunk, cert.subject.rfc4514_string(), expires.isoformat(), days_left,
                      name_matches(cert, target.server_name or target.host), chain_ok, error, key, pin,
                      tls.pin_mode if tls.pins else None)


async def inspect_trunks(trunks: Iterable[tuple[str, SipUri, TlsFiles]]) -> list[CertReport]:
    """Read the certificate of every TLS trunk given (name, URI, its TLS settings)."""
    reports: list[CertReport] = []
    for name, uri, files in trunks:
        try:
            target = (await resolve(uri, timeout=2.0))[0]
        except ResolveError as exc:
            reports.append(CertReport(name, error=str(exc)))
            continue
        reports.append(await inspect(name, target, files))
    return reports
