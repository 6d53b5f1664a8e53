"""`trunkguard cycle`: one round for a scheduler (cron, a Lambda on EventBridge, an Azure timer), with
every durable fact in the store. The same service and machine as `trunkguard run`, for seconds:

1. Probe every trunk, as a standby: a failed probe is confirmed within the run (the machine's own
   confirmation bursts), so a dead carrier is DOWN before anything is decided. The call count,
   the edge view and the stored check results are read meanwhile, and the certificate and parity
   re-checks run if they are due: the daemon re-runs them every `policy.readiness.recheck_interval`;
   a cycle lives seconds, so it runs them when the newest stored result is that old (or missing).
2. Only then stand for the lease: the machine restores the stored pair (swap in flight, cooling,
   approval, queue, pause), decides once with what this run saw, and the runtime reconciles any
   intent a previous run left in flight. A run that finds another holder stops: exit 3.
3. Carry out the people's actions queued in the store (`trunkguard failback --queue ...`), every
   routing group's, each on its own group, then let the swaps finish (at most one a group), record,
   give the lease up, exit with what happened.

Exit codes: 0 nothing to do; 10 a swap was applied; 11 a swap failed; 12 waiting on calls or a
person (a queued activation, a secondary not ready, a failback awaiting approval, paused);
3 another trunkguard holds the lease; 1 the run could not finish (store, deadline); 2 config.

A cycle serves no API, so it needs no API token (`cycle_config`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from trunkguard.app import Service
from trunkguard.config import Config
from trunkguard.config_checks import check_certs, check_parity_live
from trunkguard.core.failover import Notify, OperatorAction, PairState
from trunkguard.core.health import TrunkState
from trunkguard.core.machine import ChecksRead
from trunkguard.errors import TrunkguardError
from trunkguard.logs import fields
from trunkguard.notify import Alert
from trunkguard.readiness import CheckResult, readiness_from
from trunkguard.rules import max_ages, swap_rules
from trunkguard.runtime.pollers import cert_pages
from trunkguard.runtime.status import StatusView
from trunkguard.store import IntentStatus, StoreError

NOTHING, SWAPPED, SWAP_FAILED, WAITING, STANDBY, TROUBLE = 0, 10, 11, 12, 3, 1
RECHECKS = ("certs", "parity")  # the free re-checks (the DID sweep places calls: `trunkguard sweep` runs it)
log = logging.getLogger("trunkguard")


def cycle_config(config: Config) -> Config:
    """The config a cycle's service is built with. No API is served, so no API token is asked for. And
    no re-check timer of its own: the daemon's pollers re-check at start and every `recheck_interval`,
    which for a run of seconds would be every run; `one_cycle` runs them when due instead (given the
    configured interval). The gates' maximum ages stay what the configured interval makes them."""
    ages = max_ages(config)
    readiness = config.policy.readiness.model_copy(update={"recheck_interval": 0.0, "certs_max_age": ages["certs"],
                                                           "parity_max_age": ages["parity"]})
    api = config.api.model_copy(update={"token_env": None, "read_token_env": None, "token_file": None,
                                        "read_token_file": None, "tokens": []})
    return config.model_copy(update={"api": api, "policy": config.policy.model_copy(update={"readiness": readiness})})


@dataclass(frozen=True)
class CycleResult:
    code: int
    outcome: str
    sentence: str
    seconds: float
    swaps: tuple[dict[str, Any], ...] = ()
    actions: tuple[str, ...] = ()
    hint: str = ""  # what a person can do about it, as a command
    rechecked: tuple[str, ...] = ()  # the re-checks this run made (they were due)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "outcome": self.outcome, "sentence": self.sentence,
                "seconds": round(self.seconds, 2), "swaps": list(self.swaps), "actions": list(self.actions),
                "hint": self.hint or None, "rechecked": list(self.rechecked)}


# No daemon runs to take a plain `trunkguard failback`: the approval goes into the store for the next cycle.
APPROVE = "approve the return with `trunkguard failback --queue --reason ...`: the next cycle carries it out"


async def one_cycle(service: Service, deadline: float = 60.0, *, recheck_every: float | None = None) -> CycleResult:
    """`recheck_every`: the configured `policy.readiness.recheck_interval` (a service built with
    `cycle_config` has none of its own); None: the service's."""
    started = time.monotonic()
    runtime, store = service.runtime, service.store
    stop = asyncio.Event()
    before = {i.key for i in await asyncio.to_thread(store.intents, limit=1000)}
    task = asyncio.create_task(service.run(stop, serve_api=False), name="cycle")
    every = service.config.policy.readiness.recheck_interval if recheck_every is None else recheck_every
    recheck = asyncio.create_task(_recheck_if_due(service, every), name="cycle re-checks")
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
        try:  # before deciding: a swap must not be refused for a result this run was about to renew
            await until(recheck.done, "the certificate and parity re-checks", deadline / 2)
        except TimeoutError as exc:
            log.warning("%s; deciding with the stored results", exc, extra=fields("recheck_late", error=str(exc)))
        service.lease.stand()
        ttl = service.config.replica.lease_ttl
        try:
            await until(lambda: status().leader, "taking the lease", ttl + ttl / 3 + 1)
        except TimeoutError:
            holder = status().facts.roll.leader
            return CycleResult(STANDBY, "standby", f"another trunkguard holds the lease ({holder or 'unknown'}); "
                                                   "nothing done", time.monotonic() - started)
        settle = swap_rules(service.config).deadline + 5 if service.config.platform else 30
        # the leader reads the platform's routing before it acts (and adopts it where the store differs)
        await until(lambda: status().routing_read, "reading the platform's routing", settle)
        # a swap decided on taking the lease finishes first: a queued action must not meet it in flight
        await until(lambda: _settled(status()), "the swap in flight settling", settle)
        for row_id, group, action in await asyncio.to_thread(store.queued_actions_of, None):  # every group's
            sentences = await runtime.submit(OperatorAction(action.kind, action.who, action.why, runtime.clock(),
                                                            group=group))
            said.extend(sentences)
            term = status().facts.term
            if term is not None:
                await asyncio.to_thread(store.took_queued, term, row_id,
                                        f"carried out by a cycle: {sentences[0] if sentences else ''}")
        await until(lambda: _settled(status()), "the swap in flight settling", settle)
        final = status()
    except (TimeoutError, StoreError) as exc:
        return CycleResult(TROUBLE, "trouble", str(exc), time.monotonic() - started)
    finally:
        recheck.cancel()
        stop.set()
        await asyncio.wait_for(asyncio.shield(task), 30)
    rechecked = recheck.result() if recheck.done() and not recheck.cancelled() else ()
    swaps = tuple(i for i in await asyncio.to_thread(store.intents, limit=1000) if i.key not in before)
    records = tuple({"key": i.key, "to": i.to_role, "status": i.status.value, "outcome": i.outcome,
                    "group": i.group} for i in swaps)
    seconds = time.monotonic() - started
    sentence = final.last_sentence
    several = len(final.routing_groups) > 1
    # a failed swap outweighs one that landed (in another group): the run's exit code says the worst
    for wanted, code, outcome in ((IntentStatus.FAILED, SWAP_FAILED, "swap failed"),
                                  (IntentStatus.APPLIED, SWAPPED, "swapped")):
        hit = [i for i in swaps if i.status is wanted]
        if hit:
            i = hit[-1]
            whose = f"group {i.group}: " if several else ""
            return CycleResult(code, outcome, f"{whose}{outcome} to the {i.to_role} carrier ({i.trigger}): "
                                              f"{i.reason}; {i.outcome}", seconds, records, tuple(said),
                               rechecked=rechecked)
    groups = final.group_views()
    waiting = [g for g in groups if g.pair.state in (PairState.ACTIVATING, PairState.FAILBACK_PENDING,
                                                     PairState.PAUSED)
               or g.last_sentence.removeprefix(f"group {g.name}: ").startswith("cannot activate")]
    approval = [g.name for g in groups if g.pair.state is PairState.FAILBACK_PENDING and g.pair.approval is None
                and g.policy.failback_mode == "approval"]
    if waiting and len(groups) > 1:  # the sentence of a group that waits (the first group's may not)
        sentence = waiting[0].last_sentence
    hint = "" if not approval else APPROVE if len(groups) == 1 else APPROVE.replace(
        "--queue", f"--queue --group {approval[0]}")
    return CycleResult(WAITING if waiting else NOTHING, "waiting" if waiting else "no action", sentence, seconds,
                       records, tuple(said), hint, rechecked)


def _settled(status: StatusView) -> bool:
    """No routing group has a swap in flight."""
    return status.pair.in_flight is None and all(g.pair.in_flight is None for g in status.routing_groups)


async def _recheck_if_due(service: Service, every: float) -> tuple[str, ...]:
    """The certificate and parity re-checks, when due: a gate the daemon re-checks (any group's gates, as
    the machine has them) whose newest stored result for a carrier a move may go to (after the first of
    any group's chain) is missing or at least `every` old. The same checks and certificate pages as the
    daemon's pollers (certificates read once, counted for each carrier); the results are stored as
    observed outside the lease (this run may turn out to be a standby) and handed to the machine,
    carrier by carrier, before it decides."""
    config, store = service.config, service.store
    view = service.runtime.status()
    gates = [c for c in RECHECKS if any(c in g.policy.gates for g in view.routing_groups)]
    groups = config.routing_groups()
    later = [c for c in config.carriers.chain if any(c in g.chain[1:] for g in groups)]
    if not every or not gates or not later:
        return ()
    try:
        latest = {c: await asyncio.to_thread(store.latest_checks, c) for c in later}
    except StoreError as exc:
        log.warning("cannot read the stored check results: %s", exc, extra=fields("checks_read_failed", error=str(exc)))
        return ()
    now = time.time()
    if all(g in latest[c] and now - float(latest[c][g]["at"]) < every for c in later for g in gates):
        return ()
    results: list[CheckResult] = []
    try:
        certs = await check_certs(config, later[0]) if "certs" in gates else None
        for carrier in later:
            results += [*([replace(certs, carrier=carrier)] if certs is not None else []),
                        *([await check_parity_live(config, service.platform, carrier=carrier)] if "parity" in gates
                          else [])]
    except (TrunkguardError, OSError) as exc:
        log.warning("readiness re-check failed to run: %s", exc, extra=fields("recheck_failed", error=str(exc)))
        return ()
    for r in results:
        log.log(logging.INFO if r.ok else logging.WARNING, "readiness re-check: %s %s (%s)", r.check,
                "passed" if r.ok else "FAILED", r.summary, extra=fields("recheck_done", check=r.check, ok=r.ok))
    if certs is not None:  # paged once, however many carriers it counts for
        for page in cert_pages(certs, config.tls.warn_days):
            _page(service, page)
    try:
        for r in results:
            await asyncio.to_thread(r.save, store)
        latest = {c: await asyncio.to_thread(store.latest_checks, c) for c in later}
    except StoreError as exc:
        log.warning("could not store the re-checks' results: %s", exc,
                    extra=fields("check_store_failed", check=",".join(r.check for r in results), error=str(exc)))
        return ()
    for carrier in later:
        service.runtime.post(ChecksRead(readiness_from(latest[carrier], time.time(), max_ages(config)), carrier))
    return tuple(dict.fromkeys(r.check for r in results))


def _page(service: Service, notify: Notify) -> None:
    """A page on the pair's incident, as the daemon's alerts send it."""
    log.warning("notify %s: %s", notify.kind, notify.message,
                extra=fields("notification_posted", kind=notify.kind, severity=notify.severity))
    pair = service.runtime.status().pair
    service.dispatcher.post(Alert(notify.kind, notify.severity, notify.message,
                                  f"trunkguard/{service.config.carriers.first.trunk_group_id}", time.time(),
                                  {"active": pair.active, "state": pair.state.value}))


def _probed(status: StatusView) -> bool:
    """Every trunk answered or was confirmed down (none still suspect), and the calls were read."""
    samples = status.samples.recent
    return all(samples.get(h.name) and h.state in (TrunkState.UP, TrunkState.DOWN) for h in status.trunks) \
        and all(g.calls_detail != "not read yet" for g in status.routing_groups or ()) \
        and status.calls_detail != "not read yet"
