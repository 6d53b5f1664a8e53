"""What the engine loop wakes up for: results posted by its tasks and requests from the API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from trunkguard.core.failover import OperatorAction, Swap
from trunkguard.core.scheduler import ProbeTask
from trunkguard.engine.actuator import SwapOutcome


@dataclass(frozen=True)
class ProbeDone:
    task: ProbeTask
    ok: bool
    code: int | None
    rtt_ms: float | None
    detail: str
    phases: dict[str, float]


@dataclass(frozen=True)
class Overdue:
    task: ProbeTask


@dataclass(frozen=True)
class MediaDone:
    trunk: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class SwapDone:
    swap: Swap
    outcome: SwapOutcome


@dataclass(frozen=True)
class Calls:
    count: int | None
    detail: str


@dataclass(frozen=True)
class Edge:
    view: dict[str, bool | None]


@dataclass
class OperatorRequest:
    action: OperatorAction
    reply: asyncio.Future[list[str]]


Event = ProbeDone | Overdue | MediaDone | SwapDone | Calls | Edge | OperatorRequest
