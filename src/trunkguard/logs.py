"""The daemon's logs, through structlog, one line per event in one of two formats:

- `--log-format text` (the default): logfmt (structlog's LogfmtRenderer), the key=value lines
  Loki's `| logfmt` and most log shippers parse as they are;
- `--log-format json`: one JSON object a line.

Both carry the same keys in the same order: `ts` (ISO 8601, UTC), `level`, `logger`, `event` (a
stable snake_case name, e.g. `trunk_state_changed`; docs/logs.md lists every one with its fields),
then the fields the line is about (`trunk`, `carrier`, `state`, `intent_key`, `to`, ...), each under
its own name, and last `msg`, the operator's sentence as written. A query filters on `event` and the
fields; the sentence is for the person reading.

The code logs with the standard library, so third-party libraries' lines (uvicorn, alembic) come
out in the same shape (their `event` is `library_message`); structlog's ProcessorFormatter renders
them all. A trunkguard line names its event and fields through `fields("trunk_state_changed",
trunk=..., state=...)` as the call's `extra=`; `tests/test_logs.py` holds every event name in the
code to the table in docs/logs.md.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from trunkguard.core.events import Said

HANDLER = "trunkguard"  # the name of the one handler `configure` installs
EXTRA = "trunkguard_fields"  # the LogRecord attribute `fields()` fills (one name: no clash with LogRecord's own)
LIBRARY_EVENT = "library_message"  # the event of a line logged by a library, not by trunkguard
FIRST = ("ts", "level", "logger", "event")  # then the fields, then `msg` (and `exception`, if any)


def fields(event: str, **values: Any) -> dict[str, Any]:
    """`extra=` for a log call: its stable event name and the values it is about (None left out)."""
    return {EXTRA: {"event": event, **{k: v for k, v in values.items() if v is not None}}}


def log_said(logger: logging.Logger, said: Said, about: dict[str, Any]) -> None:
    """One of the machine's sentences as a log line: its own event name, level and fields (over
    `about`, the trunk and carrier of the event that led to it)."""
    logger.log(logging.WARNING if said.level == "warning" else logging.INFO, "%s", said.sentence,
               extra=fields(said.event, **{**about, **dict(said.fields)}))


def about(event: object, rules: Any) -> dict[str, Any]:
    """The fields of a machine event's sentences: its trunk and that trunk's carrier, if it has one."""
    trunk = getattr(event, "trunk", None)
    if not isinstance(trunk, str) or trunk not in rules.index:
        return {}
    return {"trunk": trunk, "carrier": rules.trunks[rules.index[trunk]].carrier}


def _shape(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog's `event` (the record's message) becomes `msg`; `event` is the line's stable name and
    the fields follow it, so both formats give the keys in one order."""
    record = event.get("_record")
    given: dict[str, Any] = dict(getattr(record, EXTRA, None) or {})
    msg = event.pop("event", "")
    shaped = {key: event.pop(key) for key in FIRST[:3] if key in event}
    shaped["event"] = given.pop("event", LIBRARY_EVENT)
    shaped.update(given)
    shaped.update(event)  # structlog's own keys (`_record`, `exc_info`), removed or rendered later
    shaped["msg"] = msg
    return shaped


def configure(level: int = logging.INFO, fmt: Literal["text", "json"] = "text") -> None:
    """Route every logger through one stderr handler rendering logfmt or JSON lines. structlog is
    imported here, not with the module: the SIP transport and the CLI's commands name their log
    lines through `fields` without paying for it at start-up."""
    import structlog

    pre_chain: list[Any] = [
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _shape,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else \
        structlog.processors.LogfmtRenderer(bool_as_flag=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                    renderer])
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "alembic", "uvicorn", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
