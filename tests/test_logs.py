"""The logs a Loki or Elasticsearch user queries (issue 26 item 3): every line has a stable `event`
name, its values as fields and its sentence as `msg`; the names in the code are the ones docs/logs.md
lists; a trunk down and "cannot activate the secondary" are warnings; and the real daemon, run on the
lab with `--log-format json`, says a primary outage and the swap it makes as JSON lines with those
names and fields."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.conftest import eventually
from trunkguard.config import parse_config
from trunkguard.config_checks import run_readiness
from trunkguard.core.failover import PairSnapshot
from trunkguard.core.machine import LeaseChanged, Log, ProbeDone, RoutingRead, initial, step
from trunkguard.lab.lab import free_tcp_port, lab_environment, running_lab
from trunkguard.lab.responder import Fault
from trunkguard.logs import LIBRARY_EVENT
from trunkguard.rules import machine_rules

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "trunkguard"
LEVELS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
# Calls whose first argument is an event name, and the keywords that are not fields of the line.
NAMING = {"fields": set(), "say": set(), "_fatal": set(), "Said": {"fields", "level"}, "Decision": set()}


def _documented() -> dict[str, set[str]]:
    """docs/logs.md's table: each event and the fields its row names (`decision`: a decision's fields)."""
    rows: dict[str, set[str]] = {}
    for line in (ROOT / "docs" / "logs.md").read_text().splitlines():
        match = re.fullmatch(r"\| `([a-z_]+)` \| [a-z, ]+ \|\s*([^|]*?)\s*\| [^|]+ \|", line)
        if match:
            assert match[1] not in rows, f"{match[1]} is listed twice"
            rows[match[1]] = set(re.findall(r"`([a-z0-9_]+)`", match[2])) | \
                ({"state", "active", "to", "intent_key", "trigger", "notify", "action", "by", "trunk", "carrier"}
                 if "decision" in match[2] else set())
    return rows


def _named_in_code() -> dict[str, set[tuple[str, frozenset[str]]]]:
    """Every event name the code gives a log line, with where and the field keywords given with it."""
    found: dict[str, set[tuple[str, frozenset[str]]]] = defaultdict(set)
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name not in NAMING or (name == "say" and not (isinstance(func, ast.Attribute)
                                                             and isinstance(func.value, ast.Name)
                                                             and func.value.id == "out")):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                keywords = {k.arg for k in node.keywords if k.arg is not None} - NAMING[name]
                found[first.value].add((f"{path.relative_to(ROOT)}:{node.lineno}", frozenset(keywords)))
    return found


def test_the_documented_events_are_the_ones_the_code_logs() -> None:
    documented, named = _documented(), _named_in_code()
    assert len(documented) > 60, "the table in docs/logs.md was not found"
    assert set(named) == set(documented) - {LIBRARY_EVENT}, (
        f"logged but not in docs/logs.md: {sorted(set(named) - set(documented))}; "
        f"in docs/logs.md but never logged: {sorted(set(documented) - set(named) - {LIBRARY_EVENT})}")
    for event, uses in named.items():
        for where, keywords in uses:
            assert set(keywords) <= documented[event], \
                f"{where}: {event} carries {sorted(set(keywords) - documented[event])}, not in its docs/logs.md row"
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", event) for event in documented)  # snake_case


def test_every_log_call_names_its_event() -> None:
    """A log call without `extra=fields("name", ...)` (or the machine's Said) would log `event` as a
    library's line: every call in the package passes `extra=`."""
    bare = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LEVELS):
                continue
            target = node.func.value
            is_logger = (isinstance(target, ast.Name) and target.id in ("log", "logger")) or (
                isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute)
                and target.func.attr == "getLogger")
            if is_logger and not any(k.arg == "extra" for k in node.keywords):
                bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bare, f"log calls without an event name: {bare}"


CONFIG = parse_config("""
carriers:
  primary: {trunk_group_id: tg-a, trunks: [{name: a-1, uri: "sip:127.0.0.1:5070"}]}
  secondary: {trunk_group_id: tg-b, trunks: [{name: b-1, uri: "sip:127.0.0.1:5072"}]}
""")


def test_a_trunk_down_and_cannot_activate_the_secondary_are_warnings() -> None:
    """The machine names each sentence: a trunk going down is `trunk_state_changed` with its state at
    warning (suspect is info), and "cannot activate the secondary" is `secondary_not_ready` at warning."""
    rules = machine_rules(CONFIG)
    state = step(initial(rules, 0.0), LeaseChanged(True, PairSnapshot(), "took the lease", await_routing=True),
                 1.0, rules).state
    state = step(state, RoutingRead("primary", "rule-1 routes to tg-a"), 2.0, rules).state
    said = []
    for seq in range(1, rules.trunks[0].rules.failures_to_down + 1):
        result = step(state, ProbeDone("a-1", seq, False, detail="timeout"), 2.0 + seq, rules)
        state = result.state
        said += [*result.said, *(e.said for e in result.effects if isinstance(e, Log))]
    changes = [(s.event, dict(s.fields)["state"], s.level) for s in said if s.event == "trunk_state_changed"]
    assert changes == [("trunk_state_changed", "suspect", "info"), ("trunk_state_changed", "down", "warning")]
    [down] = [s for s in said if s.event == "trunk_state_changed" and s.level == "warning"]
    assert dict(down.fields) == {"trunk": "a-1", "carrier": "primary", "state": "down", "previous": "suspect"}
    [blocked] = [s for s in said if s.event == "secondary_not_ready"]
    assert blocked.sentence.startswith("cannot activate the secondary: ") and blocked.level == "warning"
    assert dict(blocked.fields)["notify"] == "secondary_not_ready" and dict(blocked.fields)["active"] == "primary"


async def _read_lines(stream: asyncio.StreamReader, into: list[dict[str, Any]]) -> None:
    while line := await stream.readline():
        into.append(json.loads(line))  # every line is one JSON object, or the test fails here


def _one(lines: list[dict[str, Any]], event: str, **wanted: Any) -> dict[str, Any] | None:
    return next((e for e in lines if e["event"] == event and all(e.get(k) == v for k, v in wanted.items())), None)


async def test_the_daemon_logs_an_outage_and_its_swap_as_json_events(tmp_path: Path) -> None:
    """`trunkguard run --log-format json` on the lab: the primary dies before the secondary's readiness
    is proven (warnings: the trunk down, cannot activate the secondary), then the sweep passes and the
    daemon swaps (swap_started and swap_committed with the intent key and the carrier it moved to)."""
    async with running_lab() as lab:
        config = tmp_path / "tg.yaml"
        config.write_text(lab.config_text("fast", storage=f"sqlite:///{tmp_path / 'tg.db'}",
                                          api_listen=f"127.0.0.1:{free_tcp_port()}"))
        env = {**os.environ, **lab_environment("t")}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "trunkguard", "run", "--config", str(config), "--log-format", "json", env=env,
            stderr=asyncio.subprocess.PIPE)
        assert process.stderr is not None
        lines: list[dict[str, Any]] = []
        reader = asyncio.create_task(_read_lines(process.stderr, lines))
        shown = lambda: "\n".join(f"{e['level']} {e['event']}: {e['msg']}" for e in lines[-15:])  # noqa: E731
        try:
            await eventually(lambda: _one(lines, "routing_read"), "the leader reading the routing", timeout=20,
                             detail=shown)
            lab.primary.fault = Fault(down=True)
            await eventually(lambda: _one(lines, "secondary_not_ready"), "cannot activate the secondary", timeout=20,
                             detail=shown)
            await run_readiness(parse_config(config.read_text()))  # the sweep proves the secondary: now it swaps
            await eventually(lambda: _one(lines, "swap_committed"), "the swap committed", timeout=30, detail=shown)
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 20) == 0
            await asyncio.wait_for(reader, 5)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    assert all(list(e)[:4] == ["ts", "level", "logger", "event"] and list(e)[-1] == "msg" for e in lines)
    down = _one(lines, "trunk_state_changed", trunk="carrier-a-1", state="down")
    assert down is not None and down["level"] == "warning" and down["carrier"] == "primary"
    assert down["msg"].startswith("trunk carrier-a-1 is down")
    blocked = _one(lines, "secondary_not_ready")
    assert blocked is not None and blocked["level"] == "warning"
    assert blocked["msg"].startswith("cannot activate the secondary: ")
    started = _one(lines, "swap_started", to="secondary")
    assert started is not None and started["level"] == "warning" and started["trigger"] == "automatic"
    assert started["msg"].startswith("activating the secondary carrier: ")
    committed = _one(lines, "swap_committed", to="secondary", intent_key=started["intent_key"])
    assert committed is not None and committed["state"] == "secondary_active" and committed["active"] == "secondary"
    assert committed["msg"].startswith("committed: inbound routing is on the secondary carrier")
    paged = _one(lines, "notification_posted", kind="swap_committed")
    assert paged is not None and paged["severity"] == "critical" and paged["level"] == "warning"
    assert lines.index(down) < lines.index(blocked) < lines.index(started) < lines.index(committed)
    assert [e["event"] for e in lines[-2:]] == ["stopping", "stopped"]
