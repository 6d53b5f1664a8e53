"""Carrying out a swap on the platform, and reconciling one left in flight by a crash.

The order never changes: the intent is already committed to the store (the engine does that
before calling here); read the routing and save it as the prior state; write with the intent's
idempotency key and the version read; read back. When a write fails or times out, one more read
tells whether it landed after all, so a lost answer is not mistaken for a failed swap.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from trunkguard.actuation.base import Platform, PlatformError, RoutingState


@dataclass(frozen=True)
class SwapOutcome:
    ok: bool
    detail: str
    prior: RoutingState | None = None
    after: RoutingState | None = None


def routing_json(state: RoutingState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"rule_id": state.rule_id, "trunk_group_id": state.trunk_group_id, "version": state.version,
            "raw": dict(state.raw)}


async def carry_out(platform: Platform, trunk_group_id: str, key: str, deadline: float,
                    on_prior: Any = None) -> SwapOutcome:
    """Point routing at `trunk_group_id` within `deadline` seconds. Never raises PlatformError."""
    prior: RoutingState | None = None
    try:
        async with asyncio.timeout(deadline):
            prior = await platform.read_routing()
            if on_prior is not None:
                await on_prior(prior)
            if prior.trunk_group_id == trunk_group_id:
                return SwapOutcome(True, f"already on {trunk_group_id} (version {prior.version}); nothing written",
                                   prior, prior)
            after = await platform.apply_swap(trunk_group_id, idempotency_key=key, expected_version=prior.version)
            return SwapOutcome(True, f"written and read back: {after.trunk_group_id} at version {after.version}",
                               prior, after)
    except (PlatformError, TimeoutError) as exc:
        why = str(exc) or f"no result within {deadline:g}s"
    try:
        async with asyncio.timeout(deadline / 2):
            now = await platform.read_routing()
    except (PlatformError, TimeoutError) as exc:
        return SwapOutcome(False, f"{why}; the routing could not be read afterwards either ({exc or 'timeout'})",
                           prior)
    if now.trunk_group_id == trunk_group_id:
        return SwapOutcome(True, f"{why}; but a fresh read shows {trunk_group_id} at version {now.version}", prior, now)
    return SwapOutcome(False, f"{why}; routing still on {now.trunk_group_id}", prior, now)


async def read_for_reconcile(platform: Platform, deadline: float) -> RoutingState:
    async with asyncio.timeout(deadline):
        return await platform.read_routing()
