"""How the core writes times in its sentences (the config and the CLI use the same form)."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """`500ms`, `15s`, `5m`, `1h`, `30d`: the form the config accepts, in the largest whole unit."""
    if seconds and seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g}d"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def format_age(seconds: float) -> str:
    """A measured time for people: whole milliseconds below a second, else 3 significant figures
    (`31ms`, `2.35s`, `152s`), never `30.6396ms`. (format_duration stays exact: config values round-trip.)"""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms" if seconds > 0 else "0s"
    return format_duration(float(f"{seconds:.3g}"))


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 swap`, `2 swaps`, `0 notifications`: a number with its noun agreeing."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
