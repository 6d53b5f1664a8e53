"""How many vantages make a quorum: its own module so that `config check` can say it without importing
the verdict's machinery (core/vantage.py and the health rules it needs: 12 ms of the command's start-up)."""

from __future__ import annotations


def quorum_need(quorum: int | str, counted: int) -> int:
    """`policy.quorum` as a count: majority is more than half of the counted vantages."""
    if counted == 0:
        return 0
    return counted // 2 + 1 if quorum == "majority" else int(quorum)
