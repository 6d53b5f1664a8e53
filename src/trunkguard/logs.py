"""The daemon's logs, through structlog: every line has an ISO 8601 time with its zone (UTC), the
level, the logger, the message (the operator's sentence, as written), and the fields the line is
about (trunk, carrier, target, term, intent key, vantage), as key=value pairs in text or as keys of
one JSON object a line with `--log-format json`.

The code logs with the standard library (`logging.getLogger("trunkguard").info(sentence,
extra=fields(trunk=...))`), so third-party libraries' lines (uvicorn, alembic) come out in the same
shape; structlog's ProcessorFormatter renders them all. Fields are given through `fields()`, which
keeps only the known names, so a typo cannot silently invent a field.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog

FIELDS = ("trunk", "carrier", "target", "term", "intent_key", "vantage", "kind")


def fields(**values: Any) -> dict[str, Any]:
    """`extra=` for a log call: the named fields that have a value."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log fields: {sorted(unknown)}")
    return {k: v for k, v in values.items() if v is not None}


def about(event: object, rules: Any) -> dict[str, Any]:
    """The fields of a machine event's sentences: its trunk and that trunk's carrier, if it has one."""
    trunk = getattr(event, "trunk", None)
    if not isinstance(trunk, str) or trunk not in rules.index:
        return {}
    return fields(trunk=trunk, carrier=rules.trunks[rules.index[trunk]].carrier)


def _rename_event(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    event["message"] = event.pop("event", "")
    return event


def _only_known_extras(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    record = event.get("_record")
    if record is not None:
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                event[name] = value
    return event


def configure(level: int = logging.INFO, fmt: Literal["text", "json"] = "text") -> None:
    """Route every logger through one stderr handler rendering text (key=value) or JSON lines."""
    pre_chain: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts" if fmt == "json" else "timestamp"),
        _only_known_extras,
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        pre_chain.append(_rename_event)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0, pad_level=False, sort_keys=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                    renderer])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "alembic", "uvicorn", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
