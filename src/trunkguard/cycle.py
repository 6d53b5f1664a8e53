"""`trunkguard cycle`: one round for a scheduler (cron, a Lambda on EventBridge, an Azure timer), with
every durable fact in the store. The same service and machine as `trunkguard run`, for seconds:

1. Probe every trunk, as a standby: a failed probe is confirmed within the run (the machine's own
   confirmation bursts), so a dead carrier is DOWN before anything is decided. The call count,
   the edge view and the stored check results are read meanwhile.
2. Only then stand for the lease: the machine restores the stored pair (swap in flight, cooling,
   approval, queue, pause), decides once with what this run saw, and the runtime reconciles any
   intent a previous run left in flight. A run that finds another holder stops: exit 3.
3. Carry out the people's actions queued in the store (`trunkguard failback --queue ...`), then
   let at most one swap finish, record, give the lease up, exit with what happened.

Exit codes: 0 nothing to do; 10 a swap was applied; 11 a swap failed; 12 waiting on calls or a
person (a queued activation, a secondary not ready, a failback awaiting approval, paused);
3 another trunkguard holds the lease; 1 the run could not finish (store, deadline); 2 config.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from trunkguard.app import Service
from trunkguard.core.failover import OperatorAction, PairState
from trunkguard.core.health import TrunkState
from trunkguard.store import IntentStatus, StoreError

NOTHING, SWAPPED, SWAP_FAILED, WAITING, STANDBY, TROUBLE = 0, 10, 11, 12, 3, 1


@dataclass(frozen=True)
class CycleResult:
    code: int
    outcome: str
    sentence: str
    seconds: float
    swaps: tuple[dict[str, Any], ...] = ()
    actions: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "outcome": self.outcome, "sentence": self.sentence,
                "seconds": round(self.seconds, 2), "swaps": list(self.swaps), "actions": list(self.actions)}


async def one_cycle(service: Service, deadline: float = 60.0) -> CycleResult:
    started = time.monotonic()
    runtime, store = service.runtime, service.store
    stop = asyncio.Event()
    before = {i.key for i in await asyncio.to_thread(store.intents, limit=1000)}
    task = asyncio.create_task(service.run(stop, serve_api=False), name="cycle")
    said: list[str] = []

    async def until(check: Any, what: str, within: float) -> None:
        end = min(started + deadline, time.monotonic() + within)
        while not check():
            if task.done():
                task.result()  # a failed start: raise its error
                raise TimeoutError(f"the service stopped before {what}")
            if time.monotonic() > end:
                raise TimeoutError(f"{what} did not happen within the run's {deadline:g}s")
            await asyncio.sleep(0.02)

    try:
        status = runtime.status
        await until(lambda: _probed(status()), "a first verdict on every trunk", deadline)
        service.lease.stand()
        ttl = service.config.replica.lease_ttl
        try:
            await until(lambda: status().leader, "taking the lease", ttl + ttl / 3 + 1)
        except TimeoutError:
            holder = status().facts.roll.leader
            return CycleResult(STANDBY, "standby", f"another trunkguard holds the lease ({holder or 'unknown'}); "
                                                   "nothing done", time.monotonic() - started)
        settle = service.config.platform.swap_rules().deadline + 5 if service.config.platform else 30
        # a swap decided on taking the lease finishes first: a queued action must not meet it in flight
        await until(lambda: status().pair.in_flight is None, "the swap in flight settling", settle)
        for row_id, action in await asyncio.to_thread(store.queued_actions):
            sentences = await runtime.submit(OperatorAction(action.kind, action.who, action.why, runtime.clock()))
            said.extend(sentences)
            term = status().facts.term
            if term is not None:
                await asyncio.to_thread(store.took_queued, term, row_id,
                                        f"carried out by a cycle: {sentences[0] if sentences else ''}")
        await until(lambda: status().pair.in_flight is None, "the swap in flight settling", settle)
        final = status()
    except (TimeoutError, StoreError) as exc:
        return CycleResult(TROUBLE, "trouble", str(exc), time.monotonic() - started)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.shield(task), 30)
    swaps = tuple(i for i in await asyncio.to_thread(store.intents, limit=1000) if i.key not in before)
    records = tuple({"key": i.key, "to": i.to_role, "status": i.status.value, "outcome": i.outcome} for i in swaps)
    seconds = time.monotonic() - started
    sentence = final.last_sentence
    for wanted, code, outcome in ((IntentStatus.APPLIED, SWAPPED, "swapped"), (IntentStatus.FAILED, SWAP_FAILED,
                                                                               "swap failed")):
        hit = [i for i in swaps if i.status is wanted]
        if hit:
            i = hit[-1]
            return CycleResult(code, outcome, f"{outcome} to the {i.to_role} carrier ({i.trigger}): {i.reason}; "
                                              f"{i.outcome}", seconds, records, tuple(said))
    pair = final.pair
    waiting = pair.state in (PairState.ACTIVATING, PairState.FAILBACK_PENDING, PairState.PAUSED) \
        or sentence.startswith("cannot activate")
    return CycleResult(WAITING if waiting else NOTHING, "waiting" if waiting else "no action", sentence, seconds,
                       records, tuple(said))


def _probed(status: Any) -> bool:
    """Every trunk answered or was confirmed down (none still suspect), and the calls were read."""
    samples = status.samples.recent
    return all(samples.get(h.name) and h.state in (TrunkState.UP, TrunkState.DOWN) for h in status.state.trunks) \
        and status.state.calls_detail != "not read yet"
