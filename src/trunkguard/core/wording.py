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
