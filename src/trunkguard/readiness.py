"""The secondary's readiness checks (DID sweep, certificates, profile parity): their results, as stored
where every replica's gates read them, and the gates made from the newest ones. Running them as a
config names them is config_checks.py's.

The `sweep`, `certs` and `parity` commands, the demo, the lab and the daemon's periodic re-checks
(`policy.readiness.recheck_interval`, `sweep_interval`) all run these and write one `checks` row
each: the commands without a lease term (a person's observation), the daemon with its term
(fenced). A gate reads the newest row of its check; a result older than the check's maximum age
(`*_max_age`, by default twice its re-check interval) does not count, and the sentence says since
when it is stale. Only the secondary's sweep opens or closes the sweep gate; sweeping the primary is kept
for information.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trunkguard.core.failover import Readiness
from trunkguard.core.wording import count
from trunkguard.durations import format_duration
from trunkguard.parity import Difference
from trunkguard.probing.answers import answer_differences, typical_answer
from trunkguard.probing.did_sweep import SweepResult
from trunkguard.probing.tls_cert import CertReport
from trunkguard.store import Store

CHECKS = ("sweep", "certs", "parity")


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome, ready to be stored."""

    check: str
    carrier: str
    ok: bool
    at: float
    summary: str
    result: dict[str, Any]

    def save(self, store: Store, term: int | None = None) -> None:
        store.save_check(self.check, self.carrier, self.ok, self.at, self.summary, self.result, term=term)


def sweep_result(result: SweepResult) -> CheckResult:
    """The sweep as stored: every DID's outcome and reason, and the SDP answers (parity reads them)."""
    elsewhere = f"; {result.not_ours} answered 200 but not by the contact center" if result.not_ours else ""
    return CheckResult("sweep", result.carrier, result.passed, time.time(),
                       f"{result.ok}/{result.total} DIDs answered{elsewhere}", result.as_dict())


def certs_result(certs: list[CertReport], warn_days: float, carrier: str = "secondary") -> CheckResult:
    summary = "; ".join(f"{r.trunk}: {r.error or f'{r.days_left} days left'}" for r in certs) or "no TLS trunks"
    return CheckResult("certs", carrier, all(r.healthy(warn_days) for r in certs), time.time(), summary,
                       {"certs": [r.as_dict() for r in certs]})


def parity_result(found: list[dict[str, Any]], answers: AnswersParity | None = None,
                  carrier: str = "secondary") -> CheckResult:
    """The profiles' differences; with `answers`, the carriers' SDP answers' too (they count only when
    both carriers' answers were there to compare)."""
    summary = "profiles match" if not found else count(len(found), "difference")
    if answers is None:
        return CheckResult("parity", carrier, not found, time.time(), summary, {"differences": found})
    if answers.compared:
        summary += "; answers match" if not answers.differences else \
            f"; answers: {count(len(answers.differences), 'difference')}"
    return CheckResult("parity", carrier, not found and not answers.differences, time.time(), summary,
                       {"differences": found, "answers": answers.as_dict()})


@dataclass(frozen=True)
class AnswersParity:
    """The carriers' SDP answers compared (from their newest stored sweeps), or why they were not."""

    compared: bool
    differences: tuple[str, ...] = ()
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"compared": self.compared, "differences": list(self.differences), "note": self.note}


def answers_parity(store: Store) -> AnswersParity:
    """Each carrier's typical SDP answer from its newest stored sweep, compared; a note names a carrier
    without one (its sweep never ran: `trunkguard sweep --carrier primary` stores the primary's)."""
    typical = {role: typical_answer(((store.latest_checks(role).get("sweep") or {}).get("result") or {})
                                    .get("answers") or []) for role in ("primary", "secondary")}
    primary, secondary = typical["primary"], typical["secondary"]
    if primary is None or secondary is None:
        role = "primary" if primary is None else "secondary"
        return AnswersParity(False, note=f"no SDP answers stored for the {role} carrier (run `trunkguard sweep "
                                         f"--carrier {role}`)")
    return AnswersParity(True, tuple(answer_differences("primary", primary, "secondary", secondary)))


def parity_live_result(found: list[Difference], error: str | None = None,
                       answers: AnswersParity | None = None, carrier: str = "secondary") -> CheckResult:
    """Parity read from the platform, as stored: each difference with its sentence, or why the trunk
    settings could not be read (which does not pass); with `answers`, the SDP answers' too."""
    if error is not None:
        return CheckResult("parity", carrier, False, time.time(), error,
                           {"differences": [], "source": "platform", "error": error})
    summary = "the trunk bases match" if not found else "; ".join(d.sentence for d in found)
    result: dict[str, Any] = {"differences": [d.as_dict() for d in found], "source": "platform"}
    ok = not found
    if answers is not None:
        result["answers"] = answers.as_dict()
        ok = ok and not answers.differences
        if answers.compared:
            summary += "; answers match" if not answers.differences else \
                f"; answers: {count(len(answers.differences), 'difference')}"
    return CheckResult("parity", carrier, ok, time.time(), summary, result)


def readiness_from(latest: Mapping[str, Mapping[str, Any]], now: float,
                   ages: Mapping[str, float | None]) -> Readiness:
    """The decision core's readiness gates from the newest stored results (None: never run, or stale)."""
    values: dict[str, bool | None] = {}
    notes: list[tuple[str, str]] = []
    for check in CHECKS:
        row = latest.get(check)
        limit = ages.get(check)
        if row is None:
            values[check] = None
        elif limit is not None and now - float(row["at"]) > limit:
            values[check] = None
            notes.append((check, f"stale since {_when(float(row['at']) + limit)} (its result is from "
                                 f"{_when(float(row['at']))}, older than {format_duration(limit)})"))
        else:
            values[check] = bool(row["ok"])
    ready, unready = _swept(latest.get("sweep")) if values["sweep"] is not None else (None, ())
    return Readiness(values["sweep"], values["certs"], values["parity"], tuple(notes),
                     _expiry((latest.get("certs") or {}).get("result") or {}), ready, unready)


UNREADY_NAMED = 10  # DIDs a partial-sweep page names; the rest are counted


def _swept(row: Mapping[str, Any] | None) -> tuple[float | None, tuple[str, ...]]:
    """The share of DIDs the sweep proved, and the first ones it did not (for a partial swap's page)."""
    result = (row or {}).get("result") or {}
    total, ok = result.get("total"), result.get("ok")
    if not isinstance(total, int) or not isinstance(ok, int) or total <= 0:
        return None, ()
    failed = [str(f.get("did")) for f in result.get("failed") or [] if isinstance(f, Mapping)]
    named = tuple(failed[:UNREADY_NAMED]) + ((f"and {len(failed) - UNREADY_NAMED} more",)
                                              if len(failed) > UNREADY_NAMED else ())
    return ok / total, named


def _expiry(result: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    out = []
    for cert in result.get("certs") or []:
        try:
            when = dt.datetime.fromisoformat(str(cert.get("not_after")).replace("Z", "+00:00"))
        except ValueError:
            continue
        out.append((str(cert.get("trunk")), (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()))
    return tuple(out)


def _when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
