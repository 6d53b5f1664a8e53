"""Moments as people and scripts read them: ISO 8601 in UTC with milliseconds (`2026-11-01T10:15:00.250Z`).

Inside trunkguard a moment is epoch seconds (the store, the core, the published view); the REST API,
the event stream and every `--json` of the CLI turn them into ISO 8601 at the edge, by key
(`TIME_KEYS`). Durations (`*_s`, `age_s`, `waited_s`, ...) stay numbers of seconds.

`parse_since` reads the `since` a person gives (`?since=` on the history, `trunkguard history
--since`): an ISO 8601 moment, or a duration back from now (`90m`, `2h`, `1d`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from trunkguard.durations import parse_duration

__all__ = ["TIME_KEYS", "epoch", "iso", "iso_times", "parse_since"]

# Keys whose values are moments (epoch seconds in the store and the published view).
TIME_KEYS = frozenset({"at", "since", "until", "created_at", "finished_at", "started_at", "seen_at", "published_at",
                       "expires_at", "used_at", "updated_at", "queued_since", "activated_at", "primary_ok_since",
                       "not_after", "requested_at", "stored_at"})


LAST = 253_402_300_800.0  # 10000-01-01T00:00:00Z: the first moment ISO 8601's four-digit year cannot write


def iso(at: float) -> str:
    """An epoch time as ISO 8601 in UTC, with milliseconds and `Z`."""
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_times(data: Any, *, floor: float = 1e8) -> Any:
    """`data` with every number under a TIME_KEYS key at or above `floor` as an ISO 8601 string. The CLI
    keeps the default floor (a simulated scenario's clock starts near 0 and is shown as seconds); the
    API passes 0, so each moment it declares as a date-time is one, whatever clock the daemon runs on."""
    if isinstance(data, dict):
        return {k: iso(v) if k in TIME_KEYS and isinstance(v, int | float) and not isinstance(v, bool) and v >= floor
                else iso_times(v, floor=floor) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [iso_times(v, floor=floor) for v in data]
    return data


def epoch(value: str | float) -> float:
    """A moment read back from the API or a `--json` (ISO 8601, or epoch seconds) as epoch seconds."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).timestamp()
    return float(value)


def parse_since(text: str, now: float) -> float:
    """`since` as epoch seconds: an ISO 8601 moment (a time without an offset is UTC), or a duration
    before `now` (`90m`, `2h`, `1d`). Raises ValueError saying which forms are accepted."""
    try:
        at = now - parse_duration(text)
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is neither an ISO 8601 time (2026-11-01T10:00:00Z) nor a duration back "
                             "from now (90m, 2h, 1d)") from None
        at = (moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)).timestamp()
    if not 0 <= at < LAST:
        raise ValueError(f"{text!r} is outside 1970-01-01 to 9999-12-31")
    return at
