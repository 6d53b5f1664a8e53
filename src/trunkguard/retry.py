"""When to try an HTTP request again: the one backoff and Retry-After reading for the platform client
and the notification senders.

Written here rather than taken from tenacity or stamina: both wrap a call in a decorator with their
own stop rules, while both callers here retry inside one overall deadline that also bounds each
attempt's own timeout, and must give up early when the next wait would cross it. What they share is
two small functions: the jittered exponential backoff, and RFC 9110's Retry-After in both of its
forms (delay-seconds, or an HTTP-date).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time

BASE = 0.2   # the first wait, in seconds
CAP = 8.0    # no wait longer than this unless the server asks for it
RETRY_AFTER_MAX = 300.0  # a server asking for more than this is not waited for (the deadline decides)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: `120`, `1.5` or `Fri, 31 Dec 1999 23:59:59 GMT`.
    None when absent or not understood; a date in the past is 0."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds == float("inf"):
        return None
    return min(max(0.0, seconds), RETRY_AFTER_MAX)


def backoff(attempt: int, rng: random.Random, *, base: float = BASE, cap: float = CAP) -> float:
    """The wait before attempt `attempt + 1`: base x 2^(attempt-1), capped, with jitter of -50 %..0."""
    return float(min(cap, base * 2 ** (attempt - 1)) * (0.5 + rng.random() / 2))


def next_wait(attempt: int, rng: random.Random, header: str | None, *, base: float = BASE,
              cap: float = CAP) -> float:
    """Retry-After when the server gave one, else the backoff."""
    asked = retry_after(header)
    return asked if asked is not None else backoff(attempt, rng, base=base, cap=cap)
