"""Replaying real traffic: the daemon's recorded event trace through another config.

"What would these thresholds have done last night?" The trace holds what the daemon's probes found
(every answer, code, RTT and silence, with its time), the call counts it read and what people did.
A replay builds a world from it: a probe sent at time t, under the new config's schedule, gets the
answer the real trunk gave at that time (the latest recorded outcome of that trunk, held until the
next one); a poll reads the call count recorded then; people act when they acted. The one machine
then decides as it would have under the new rules, on a virtual clock, and the result is compared
with the decisions the daemon really recorded over the same time.

With the daemon's own config the replay follows the same answers with a slightly different probe
timing, so small timing differences are expected; what it answers well is whether a swap would
have happened, when, and why.
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trunkguard.core.failover import DEFAULT_GROUP, Readiness, Swap
from trunkguard.core.machine import (
    CallsRead,
    ChecksRead,
    EdgeRead,
    Event,
    LeaseChanged,
    MediaDone,
    OperatorDid,
    ProbeDone,
    ProbeLate,
    RoutingRead,
    SwapSettled,
    VantagesRead,
)
from trunkguard.core.scheduler import ProbeTask
from trunkguard.errors import ConfigError
from trunkguard.sim.runner import READY, SimResult, Simulation, SimWorld
from trunkguard.sim.scenario import Scenario
from trunkguard.sip.client import T1
from trunkguard.store import Store
from trunkguard.store.codec import event_from_json, event_to_json

# Sentences that say something happened (not the steady "no action" ones): these are compared.
NOTABLE = ("trunk ", "activating", "committed", "returning", "cannot activate", "activation ", "cancelled",
           "paused", "resumed", "failback approved", "acknowledged", "the swap")
_GROUP = re.compile(r"^group [A-Za-z0-9][A-Za-z0-9_.-]*: ")  # a routing group's decisions are said with its name


def notable(sentence: str) -> bool:
    """Does the sentence say something happened (whatever group it is about)?"""
    return _GROUP.sub("", sentence, count=1).startswith(NOTABLE)


@dataclass
class Trace:
    events: list[tuple[float, Event]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)  # what the daemon recorded: at, kind, sentence

    @property
    def start(self) -> float:
        return self.events[0][0] if self.events else 0.0

    @property
    def end(self) -> float:
        return self.events[-1][0] if self.events else 0.0


def from_store(store: Store, since: float | None = None, until: float | None = None) -> Trace:
    rows = store.trace(since, until)
    trace = Trace(_decode(rows))
    if trace.events:
        trace.decisions = store.decisions_between(trace.start, trace.end)
    return trace


def from_file(path: Path) -> Trace:
    """An exported trace: JSON lines of {"type": "event", "at", "kind", "data"} and
    {"type": "decision", "at", "kind", "sentence"}."""
    rows: list[tuple[float, str, dict[str, Any]]] = []
    decisions: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    if item["type"] == "event":
                        rows.append((float(item["at"]), str(item["kind"]), dict(item["data"])))
                    elif item["type"] == "decision":
                        decisions.append({"at": float(item["at"]), "kind": str(item["kind"]),
                                          "sentence": str(item["sentence"])})
                except (ValueError, KeyError, TypeError) as exc:
                    raise ConfigError([(f"line {number}", f"not a trace line: {exc}")], str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([(str(path), f"cannot read: {exc}")], str(path)) from None
    try:
        return Trace(_decode(rows), decisions)
    except ValueError as exc:
        raise ConfigError([("(trace)", str(exc))], str(path)) from None


def export(trace: Trace, path: Path) -> int:
    with path.open("w", encoding="utf-8") as out:
        for at, event in trace.events:
            kind, data = event_to_json(event)
            out.write(json.dumps({"type": "event", "at": at, "kind": kind, "data": data}) + "\n")
        for d in trace.decisions:
            out.write(json.dumps({"type": "decision", **{k: d[k] for k in ("at", "kind", "sentence")}}) + "\n")
    return len(trace.events)


def _decode(rows: Iterable[tuple[float, str, dict[str, Any]]]) -> list[tuple[float, Event]]:
    return [(at, event_from_json(kind, data)) for at, kind, data in rows]


@dataclass(frozen=True)
class Answer:
    at: float
    ok: bool
    code: int | None
    rtt_ms: float | None
    detail: str


class ReplaySimulation(Simulation):
    """The simulator with the recorded world in place of the scenario's conditions.

    It runs on the trace's own clock (from its first moment), so every recorded time means what it
    meant to the daemon: a maintenance window ends when it really ended, an edge view or a vantage is
    as old as it was. What the daemon read rather than found is replayed as it was read: the stored
    check results (readiness gates), the platform's edge view and routing, the other vantages, the
    lease. A swap settles when the recorded one did, with the recorded outcome, and carries the
    daemon's key prefix, so the same swap reads the same in both."""

    def __init__(self, world: SimWorld, trace: Trace, *, platform_latency: float = 0.3, verbose: bool = False) -> None:
        duration = max(trace.end - trace.start, 1.0)
        started_here = any(isinstance(e, LeaseChanged) and e.leader for _, e in trace.events)
        read_checks = started_here or any(isinstance(e, ChecksRead) for _, e in trace.events)
        rules = world.rules.with_key_prefix(_key_prefix(trace, several=len(world.rules.groups) > 1))
        super().__init__(world, Scenario(duration=duration), seed=0, platform_latency=platform_latency,
                         verbose=verbose, rules=rules,
                         origin=trace.start, leader=not started_here,
                         readiness=Readiness() if read_checks else READY)
        self.trace = trace
        self.answers: dict[str, list[Answer]] = {}
        self.media: dict[str, list[Answer]] = {}
        self.settled: dict[str, tuple[float, SwapSettled]] = {}
        late = {(e.trunk, e.seq): at - T1 for at, e in trace.events if isinstance(e, ProbeLate)}
        for at, event in trace.events:
            if isinstance(event, ProbeDone):  # held from when it was sent: T1 before its late mark, or its RTT
                sent = late.get((event.trunk, event.seq), at - (event.rtt_ms or 0.0) / 1000)
                self.answers.setdefault(event.trunk, []).append(
                    Answer(sent, event.ok, event.code, event.rtt_ms, event.detail))
            elif isinstance(event, MediaDone):
                self.media.setdefault(event.trunk, []).append(Answer(at, event.ok, None, None, event.detail))
            elif isinstance(event, CallsRead):
                self._at(at, lambda _now, n=event.count, g=event.group: self._calls(n, g))  # type: ignore[misc]
            elif isinstance(event, SwapSettled):
                self.settled.setdefault(event.key, (at, event))
            elif isinstance(event, OperatorDid | ChecksRead | EdgeRead | VantagesRead | RoutingRead | LeaseChanged):
                self._at(at, event)
        for _, event in trace.events:  # a swap restored in flight at a start is settled as the restart settled it
            if not isinstance(event, LeaseChanged):
                continue
            for snapshot in (event.restored, *(p for _, p in event.restored_groups)):
                if snapshot is not None and snapshot.in_flight is not None:
                    recorded = self.settled.get(snapshot.in_flight.key)
                    if recorded is not None:
                        self._at(*recorded)
        self.unrecorded: set[str] = set(self.rules.index) - set(self.answers)
        for answers in self.answers.values():
            answers.sort(key=lambda a: a.at)
        self._times = {trunk: [a.at for a in answers] for trunk, answers in self.answers.items()}
        self._media_times = {trunk: [a.at for a in answers] for trunk, answers in self.media.items()}

    def _settle(self, swap: Swap, now: float, group: str) -> None:
        recorded = self.settled.get(swap.key)
        if recorded is None or recorded[0] < now:  # a swap the daemon did not make, or not then
            super()._settle(swap, now, group)
            return
        at, event = recorded
        self._at(at, event)

    def _calls(self, count: int | None, group: str = DEFAULT_GROUP) -> None:
        if len(self.rules.groups) > 1:
            self.group_calls[group] = count if count is not None else self.group_calls.get(group, self.calls)
        else:
            self.calls = count if count is not None else self.calls

    def _launch(self, task: ProbeTask, now: float) -> None:
        self.result.probes_sent += 1
        if task.kind == "media":
            found = _at_or_before(self.media.get(task.trunk), self._media_times.get(task.trunk), now)
            duration, rtp_timeout = self.media_timing[task.trunk]
            ok = found.ok if found is not None else True
            self._at(now + (duration if ok else rtp_timeout),
                     MediaDone(task.trunk, ok, found.detail if found is not None else "not recorded"))
            return
        answer = _at_or_before(self.answers.get(task.trunk), self._times.get(task.trunk), now)
        if answer is None:  # a trunk the daemon never probed: assume it answers
            self._at(now + self.rtt, ProbeDone(task.trunk, task.seq, True, 200, "not in the trace: assumed up"))
            return
        if answer.code is None and not answer.ok:  # silence (or a transport error): nothing until the deadline
            if task.timeout > T1:
                self._at(now + T1, ProbeLate(task.trunk, task.seq))
            self._at(now + task.timeout, ProbeDone(task.trunk, task.seq, False, None, answer.detail))
            return
        delay = (answer.rtt_ms or 0.0) / 1000
        if delay >= task.timeout:
            self._at(now + task.timeout, ProbeDone(task.trunk, task.seq, False, None, "no answer in time"))
            return
        if delay > T1:
            self._at(now + T1, ProbeLate(task.trunk, task.seq))
        ok = answer.code in self.alive[task.trunk] if answer.code is not None else answer.ok
        self._at(now + delay, ProbeDone(task.trunk, task.seq, ok, answer.code, answer.detail, answer.rtt_ms))


def _key_prefix(trace: Trace, *, several: bool = False) -> str:
    """The daemon's idempotency-key prefix (random per process), from the first swap in the trace."""
    for _, event in trace.events:
        if isinstance(event, SwapSettled):
            found = _KEY.match(event.key)
            if found:
                # with several routing groups each group's keys carry its name after the process's prefix
                return found.group(1).removesuffix(f"-{event.group}") if several else found.group(1)
    return "swap"


_KEY = re.compile(r"^(.+)-\d+-to-.+$")


def _at_or_before(answers: list[Answer] | None, times: list[float] | None, t: float) -> Answer | None:
    if not answers or times is None:
        return None
    i = bisect.bisect_right(times, t) - 1
    return answers[max(i, 0)]


@dataclass
class ReplayResult:
    result: SimResult
    start: float
    happened_swaps: list[dict[str, Any]]
    happened: list[tuple[float, str]]
    replayed: list[tuple[float, str]]
    unrecorded: list[str]

    def diff(self) -> list[str]:
        return list(difflib.unified_diff([s for _, s in self.happened], [s for _, s in self.replayed],
                                         "what happened", "this config", lineterm="", n=1))

    def as_dict(self) -> dict[str, Any]:
        return {**self.result.as_dict(), "trace_start": self.start,
                "happened": {"swaps": self.happened_swaps, "decisions": len(self.happened)},
                "diff": self.diff(), "trunks_not_in_trace": self.unrecorded}


def replay(world: SimWorld, trace: Trace, *, verbose: bool = False) -> ReplayResult:
    if not trace.events:
        raise ConfigError([("(trace)", "holds no events for that time: is storage.trace_retention 0, or the "
                                       "window outside what the daemon recorded?")], "trace")
    sim = ReplaySimulation(world, trace, verbose=verbose)
    result = sim.run()
    start = trace.start
    happened_swaps = [{"at_s": round(at - start, 3), "key": e.key} for at, e in trace.events
                      if isinstance(e, SwapSettled) and e.applied]
    happened = [(d["at"] - start, d["sentence"]) for d in trace.decisions if notable(d["sentence"])]
    replayed = [(t, s) for t, s in result.timeline if notable(s)]
    return ReplayResult(result, start, happened_swaps, happened, replayed, sorted(sim.unrecorded))
