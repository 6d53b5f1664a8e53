"""Sending the probes the machine asks for, against the real trunks, and keeping what they found.

One SipClient serves every probe. Each OPTIONS probe is also watched for T1 (500 ms): still
unanswered then, a ProbeLate is posted so the trunk is suspected at once (it stands in for Timer
E's first retransmission, and works the same over TCP and TLS, which never retransmit). Samples
are kept per trunk as immutable tuples (the RTT history), with the recent failures kept apart so
successes do not evict them.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trunkguard.core.events import TargetSeen
from trunkguard.core.machine import Event, MediaDone, ProbeDone, ProbeLate
from trunkguard.core.scheduler import ProbeTask
from trunkguard.probing.quality import MediaLimits, judge
from trunkguard.probing.result import ProbeResult
from trunkguard.probing.rtp import RtpReport
from trunkguard.probing.sip_invite import CallPlan, place_call
from trunkguard.probing.sip_options import OptionsCheck, probe_options, send_options
from trunkguard.sip.client import T1, SipClient
from trunkguard.sip.resolve import literal_target, make_resolver
from trunkguard.sip.uri import Transport

KEEP = 60            # samples kept per trunk (RTT history)
KEEP_FAILURES = 10   # recent failures kept even after successes evict them from the samples
# Probes running at once; more wait, in order, for a slot. A dead carrier with a thousand trunks holds a
# slot per confirmation probe for its whole deadline (2 s): the limit must leave room for the healthy
# carrier's probes, which only count as sent (and start their T1 clock) once they have a slot.
MAX_IN_FLIGHT = 8192


@dataclass(frozen=True)
class Sample:
    at: float
    kind: str
    ok: bool
    code: int | None
    rtt_ms: float | None
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"at": round(self.at, 3), "kind": self.kind, "ok": self.ok, "code": self.code,
                "rtt_ms": self.rtt_ms, "detail": self.detail}


@dataclass(frozen=True)
class Samples:
    """Every trunk's recent samples and failures, as they were when this was taken."""

    recent: Mapping[str, tuple[Sample, ...]]
    failures: Mapping[str, tuple[Sample, ...]]
    phases: Mapping[str, Mapping[str, float]]  # the last OPTIONS probe's phases (ms), per trunk
    rtp: Mapping[str, RtpReport] = field(default_factory=dict)  # the last test call's RTP, per trunk
    sip: Mapping[str, int] = field(default_factory=dict)  # the SIP client's counters (sent, stray, malformed, ...)


@dataclass(frozen=True)
class ProbePlan:
    """What to send each trunk, built once by the wiring (rules.probe_plan): its OPTIONS check (whose
    deadline is the one the machine's T1 watch and schedule use), its test call and media limits when
    it has a media check, and the configured name servers (empty: the system's)."""

    options: Mapping[str, OptionsCheck]
    calls: Mapping[str, CallPlan] = field(default_factory=dict)
    limits: Mapping[str, MediaLimits] = field(default_factory=dict)
    nameservers: tuple[tuple[str, int], ...] = ()


class ProbeRunner:
    def __init__(self, plan: ProbePlan, post: Callable[[Event], None], clock: Callable[[], float]) -> None:
        self.options = dict(plan.options)
        self.calls = dict(plan.calls)
        self.limits = dict(plan.limits)
        self._recent: dict[str, tuple[Sample, ...]] = dict.fromkeys(self.options, ())
        self._failures: dict[str, tuple[Sample, ...]] = dict.fromkeys(self.options, ())
        self._phases: dict[str, Mapping[str, float]] = {}
        self._rtp: dict[str, RtpReport] = {}
        self._post = post
        self._clock = clock
        self._in_flight = 0
        self._waiting: collections.deque[ProbeTask] = collections.deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.client = SipClient()
        # Configured name servers, for trunks given by name; None: the system's resolver.
        self.resolver = make_resolver(list(plan.nameservers)) if plan.nameservers else None
        # The trunks probed by callback once their socket is open: UDP to an IP address.
        self._direct = {name: literal_target(check.uri) for name, check in plan.options.items()
                        if check.uri.is_ip and check.uri.transport is Transport.UDP}

    def launch(self, task: ProbeTask) -> None:
        """Send this probe now, or when a slot frees (at most MAX_IN_FLIGHT at once, in order)."""
        if self._in_flight >= MAX_IN_FLIGHT or self._waiting:
            self._waiting.append(task)
            return
        self._in_flight += 1
        self._start(task)

    def _start(self, task: ProbeTask) -> None:
        """Send a probe that has its slot."""
        if task.kind != "media" and self._send_direct(task):
            return
        coro: Any = self._media(task.trunk) if task.kind == "media" else self._options(task)
        running = asyncio.get_running_loop().create_task(coro, name=f"{task.kind} {task.trunk} #{task.seq}")
        self._tasks.add(running)
        running.add_done_callback(self._task_done)

    def _send_direct(self, task: ProbeTask) -> bool:
        """An IP-literal UDP trunk whose socket is open is probed by callback, not by a task and four
        awaits: 30 to 68 µs of CPU a probe against 118 to 140 (measured against SIPp), at 137 probes a
        second with a thousand trunks per carrier. False: take the coroutine path."""
        target = self._direct.get(task.trunk)
        transport = None if target is None else self.client.open_transport(target)
        if target is None or transport is None:
            return False
        late = self._late(task)

        def answered(result: ProbeResult) -> None:
            if late is not None:
                late.cancel()
            self._answered(task, result)
            self._slot_freed()

        send_options(self.client, self.options[task.trunk], target, transport, answered, clock=self._clock)
        return True

    def _late(self, task: ProbeTask) -> asyncio.TimerHandle | None:
        """T1 counts from the send, not from a wait for a slot."""
        if task.timeout <= T1:
            return None
        return asyncio.get_running_loop().call_later(T1, self._post, ProbeLate(task.trunk, task.seq))

    def _answered(self, task: ProbeTask, result: ProbeResult) -> None:
        self._phases[task.trunk] = result.phases
        targets = tuple(TargetSeen(t.target, t.success, t.summary()) for t in result.targets)
        self._post(ProbeDone(task.trunk, task.seq, result.success, result.code, result.summary(), result.rtt_ms,
                             targets, result.status.value))

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._slot_freed()

    def _slot_freed(self) -> None:
        if self._waiting:  # the slot goes to the oldest waiting probe, started from the loop, not from
            # here: a send that fails at once would otherwise free its slot inside itself, and recurse
            asyncio.get_running_loop().call_soon(self._start, self._waiting.popleft())
        else:
            self._in_flight -= 1

    def note(self, event: ProbeDone | MediaDone, now: float) -> None:
        """Keep a result as a sample (the loop calls this for every result it folds in)."""
        if isinstance(event, ProbeDone):
            sample = Sample(now, "options", event.ok, event.code, event.rtt_ms, event.detail)
        else:
            sample = Sample(now, "media", event.ok, None, None, event.detail)
        trunk = event.trunk
        if trunk not in self._recent:
            return
        self._recent[trunk] = (*self._recent[trunk][-(KEEP - 1):], sample)
        if not sample.ok:
            self._failures[trunk] = (*self._failures[trunk][-(KEEP_FAILURES - 1):], sample)

    def samples_of(self, trunks: list[str]) -> Samples:
        """Only these trunks' samples (the evidence of one decision: no copy of every trunk's)."""
        return Samples(MappingProxyType({t: self._recent.get(t, ()) for t in trunks}),
                       MappingProxyType({t: self._failures.get(t, ()) for t in trunks}),
                       MappingProxyType({t: self._phases[t] for t in trunks if t in self._phases}))

    def samples(self) -> Samples:
        return Samples(MappingProxyType(dict(self._recent)), MappingProxyType(dict(self._failures)),
                       MappingProxyType(dict(self._phases)), MappingProxyType(dict(self._rtp)),
                       MappingProxyType(self.client.stats.as_dict()))

    async def _options(self, task: ProbeTask) -> None:
        late = self._late(task)
        # A name's targets are asked at once: the trunk is answered (no T1 mark) as soon as its rule
        # is met, though a dead target keeps the probe open until the deadline.
        result = await probe_options(self.client, self.options[task.trunk], resolver=self.resolver,
                                     on_alive=None if late is None else late.cancel, clock=self._clock)
        if late is not None:
            late.cancel()
        self._answered(task, result)

    async def _media(self, trunk: str) -> None:
        result = await place_call(self.client, self.calls[trunk], resolver=self.resolver)
        if result.rtp is not None:
            self._rtp[trunk] = result.rtp
        ok, detail = judge(result, self.limits[trunk])
        self._post(MediaDone(trunk, ok, detail, media_outcome(result.status, ok)))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.client.close()


def media_outcome(status: str, ok: bool) -> str:
    """A test call's outcome as the probe counters take it (core/events.PROBE_OUTCOMES): a call answered
    without audio, or with audio over its limits, was answered with a failure, so it is `rejected`."""
    if ok:
        return "ok"
    return status if status in ("timeout", "error") else "rejected"
