"""What the commands print for people: rich tables on a terminal; plain columns (no box drawing, no
colour, no wrapping) when stdout is a pipe or a file, for grep, awk, cut and logs, the way kubectl does."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def is_terminal() -> bool:
    return sys.stdout.isatty()


def console() -> Console:
    """A console for stdout: off a terminal, lines are never wrapped (rich would wrap them at 80 columns)."""
    from rich.console import Console

    return Console(soft_wrap=not is_terminal())


def print_table(out: Console, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table with a rich box on a terminal; elsewhere plain columns, two spaces apart, padded to the widest
    cell (the last column is not padded), with the header line first."""
    if is_terminal():
        from rich.table import Table

        table = Table(*headers)
        for row in rows:
            table.add_row(*row)
        out.print(table)
        return
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    for line in lines:
        text = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line[:-1]))
        out.out(f"{text}  {line[-1]}" if len(line) > 1 else line[-1], highlight=False)
