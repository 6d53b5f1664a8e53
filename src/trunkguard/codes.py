"""Sets of SIP response codes, written `200-299,405`: which answers to OPTIONS mean "alive"."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CodeSet:
    ranges: tuple[tuple[int, int], ...]

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and any(lo <= code <= hi for lo, hi in self.ranges)

    def __str__(self) -> str:
        return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ranges)


def parse_codes(value: object) -> CodeSet:
    """Parse `200-299,405` (or a list of codes). Raises ValueError naming the bad part."""
    if isinstance(value, CodeSet):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        parts = [str(value)]
    elif isinstance(value, list):
        parts = [str(v) for v in value]
    elif isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
    else:
        raise ValueError("response codes must be a string like '200-299,405' or a list of codes")
    ranges: list[tuple[int, int]] = []
    for part in parts:
        lo_text, _, hi_text = part.partition("-")
        if not lo_text.strip().isdigit() or (hi_text and not hi_text.strip().isdigit()):
            raise ValueError(f"{part!r} is not a response code or a range like 200-299")
        lo, hi = int(lo_text), int(hi_text or lo_text)
        if not 200 <= lo <= hi <= 699:
            raise ValueError(f"{part!r}: codes must be final responses from 200 to 699, low to high")
        ranges.append((lo, hi))
    if not ranges:
        raise ValueError("at least one response code is needed")
    return CodeSet(tuple(ranges))


ALIVE_DEFAULT = CodeSet(((200, 299),))
