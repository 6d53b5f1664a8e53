"""Durations in config and on the command line: seconds as a number, or `500ms`, `15s`, `5m`, `1h`."""

from __future__ import annotations

import re

from trunkguard.core.wording import format_duration

__all__ = ["PATTERN_TEXT", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$", re.ASCII)  # '١٥s' is not 15 s
PATTERN_TEXT = r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m|h|d)?\s*$"


def parse_duration(value: object) -> float:
    """Seconds as a float. Raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("a duration must be seconds or a string like 500ms, 15s, 5m")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _PATTERN.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError(f"{value!r} is not a duration: use seconds or a string like 500ms, 15s, 5m")
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"{value!r} is not a duration: it must be finite and not negative")
    return seconds


