"""Certificate re-checks page (warning within tls.warn_days, critical when expired or failing) and
their expiry reaches the decision core's readiness, whence `/metrics` exports it per trunk."""

from __future__ import annotations

import datetime as dt
import time

from trunkguard.readiness import CheckResult, readiness_from
from trunkguard.runtime.pollers import cert_pages


def _certs(*certs: dict[str, object]) -> CheckResult:
    return CheckResult("certs", "secondary", False, time.time(), "", {"certs": list(certs)})


def _cert(trunk: str, days: float, **extra: object) -> dict[str, object]:
    after = (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()
    return {"trunk": trunk, "not_after": after, "days_left": days, "chain_ok": True, "hostname_ok": True, **extra}


def test_healthy_certificates_page_nobody() -> None:
    assert cert_pages(_certs(_cert("s1", 200.0)), warn_days=21) == []


def test_expiring_expired_and_failing_certificates_page_by_severity() -> None:
    pages = cert_pages(_certs(_cert("s1", 10.0), _cert("s2", -2.0), _cert("s3", 300.0, hostname_ok=False),
                              {"trunk": "s4", "error": "TLS handshake with 10.0.0.4:5061 failed: timeout"}), 21)
    by_kind = {p.kind: p for p in pages}
    assert set(by_kind) == {"cert_failed", "cert_expiring"}
    assert by_kind["cert_expiring"].severity == "warning" and "s1: expires in 10 days" in by_kind["cert_expiring"].message
    failed = by_kind["cert_failed"]
    assert failed.severity == "critical"
    assert "s2: expired 2 days ago" in failed.message and "s3: the certificate does not match" in failed.message
    assert "s4: TLS handshake with 10.0.0.4:5061 failed: timeout" in failed.message


def test_the_stored_expiry_reaches_readiness_as_unix_time() -> None:
    cert = _cert("s1", 30.0)
    row = {"check": "certs", "ok": True, "at": time.time(), "result": {"certs": [cert, {"trunk": "s2"}]}}
    readiness = readiness_from({"certs": row}, time.time(), {"certs": None})
    [(trunk, at)] = readiness.cert_expiry
    expected = dt.datetime.fromisoformat(str(cert["not_after"])).timestamp()
    assert trunk == "s1" and abs(at - expected) < 1e-6 and readiness.certs_ok is True
