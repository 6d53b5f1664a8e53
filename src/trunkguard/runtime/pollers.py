"""What the machine asks for at each poll: the platform's active calls and edge view, and the
stored check results (a `trunkguard sweep` run meanwhile, from any host, counts at the next poll).
Where the platform pushes its edge view (`EdgeFeed`: Genesys' Notification API), the feed runs from
the first poll on, each push goes to the machine at once with the time the platform last confirmed
it, and the edge view is polled only while the feed is not live. It also re-runs the free
readiness checks every `recheck_interval` and the DID sweep every `sweep_interval`, storing each
result under the lease term, so a gate never rests on a stale one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from trunkguard.actuation.base import EdgeFeed, EdgeView, Platform, PlatformError
from trunkguard.core.failover import DEFAULT_GROUP, Notify
from trunkguard.core.machine import CallsRead, ChecksRead, EdgeRead, Event
from trunkguard.errors import TrunkguardError
from trunkguard.logs import fields
from trunkguard.readiness import CheckResult, readiness_from
from trunkguard.runtime.lease import LeaseView
from trunkguard.runtime.storelink import StoreLink
from trunkguard.store import CheckStore, StoreError

log = logging.getLogger("trunkguard")


@dataclass(frozen=True)
class PollRules:
    """The pollers' settings, built once by the wiring (rules.poll_rules)."""

    timeout: float = 10.0  # one platform read
    ages: Mapping[str, float | None] = field(default_factory=dict)  # how old each check's result may be
    recheck_every: float = 3600.0  # certificates and parity (0: never)
    sweep_every: float = 0.0  # the DID sweep (0: never)
    certs: bool = True  # the gates the re-checks feed
    parity: bool = True
    warn_days: float = 14.0
    drift_every: float = 300.0  # the leader re-reads the routing objects (0: never)


Check = Callable[[str], Awaitable[CheckResult]]  # the check for one carrier (by name), stored under it


@dataclass(frozen=True)
class Rechecks:
    """The readiness checks the leader re-runs for each carrier after the chain's first, as the wiring
    builds them from the config."""

    sweep: Check
    certs: Check
    parity: Check


class Pollers:
    def __init__(self, rules: PollRules, checks: Rechecks, platform: Platform, link: StoreLink[CheckStore],
                 lease: LeaseView, post: Callable[[Event], None], clock: Callable[[], float], groups: dict[str, str],
                 feed: EdgeFeed | None = None, notify: Callable[[Notify], None] | None = None,
                 drift: Callable[[], Awaitable[None]] | None = None, later: tuple[str, ...] | None = None,
                 calls: Mapping[str, Platform] | None = None) -> None:
        """`groups`: every carrier's trunk group id, in chain order; `later`: the carriers a move down may go
        to, whose readiness is read and re-checked (default: every carrier after the first in `groups`;
        with routing groups, each carrier after the first of any group's chain); `calls`: each routing group's
        platform by the group's name, which reports the live calls on that group's routing (its breaker's
        input); without it, `platform`'s calls are the default group's."""
        self.calls = dict(calls or {})
        self.rules = rules
        self.later = later if later is not None else tuple(list(groups)[1:])
        self._drift = drift
        self.checks = checks
        self.platform = platform
        self.feed = feed
        self._notify = notify
        self._feed_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.link = link
        self.lease = lease
        self.groups = groups
        self.timeout = rules.timeout
        self._post = post
        self._clock = clock
        self._ages = rules.ages
        self._tasks: set[asyncio.Task[Any]] = set()
        now = clock()
        self._next_recheck = now if rules.recheck_every else float("inf")
        self._next_sweep = now + rules.sweep_every if rules.sweep_every else float("inf")
        self._next_drift = now + rules.drift_every if rules.drift_every else float("inf")

    def reconfigure(self, rules: PollRules, checks: Rechecks) -> None:
        """New settings and checks (a config reload); a re-check whose interval changed is next due one new
        interval from now (0: never)."""
        now = self._clock()
        if rules.recheck_every != self.rules.recheck_every:
            self._next_recheck = now + rules.recheck_every if rules.recheck_every else float("inf")
        if rules.sweep_every != self.rules.sweep_every:
            self._next_sweep = now + rules.sweep_every if rules.sweep_every else float("inf")
        if rules.drift_every != self.rules.drift_every:
            self._next_drift = now + rules.drift_every if rules.drift_every else float("inf")
        self.rules, self.checks, self.timeout, self._ages = rules, checks, rules.timeout, rules.ages

    def poll(self) -> None:
        if self.calls:
            for group, platform in self.calls.items():
                self._spawn(self._calls(platform, group), f"active calls of group {group}")
        else:
            self._spawn(self._calls(self.platform), "active calls")
        self._spawn(self._checks(), "stored checks")
        if self.feed is not None and self._feed_task is None:
            self._feed_task = asyncio.get_running_loop().create_task(self.feed.run(self._pushed, self._stop),
                                                                     name="edge feed")
        if isinstance(self.platform, EdgeView) and not (self.feed is not None and self.feed.live):
            self._spawn(self._edge(self.platform), "edge view")
        now = self._clock()
        if self.lease.current().term is None:
            return  # the leader re-checks, and stores the results under its term
        if now >= self._next_drift and self._drift is not None:
            self._next_drift = now + self.rules.drift_every
            self._spawn(self._drift(), "drift check")
        if now >= self._next_recheck:
            self._next_recheck = now + self.rules.recheck_every
            self._spawn(self._recheck(sweep=False), "readiness re-check")
        if now >= self._next_sweep:
            self._next_sweep = now + self.rules.sweep_every
            self._spawn(self._recheck(sweep=True), "DID sweep")

    async def _calls(self, platform: Platform, group: str = DEFAULT_GROUP) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                count = await platform.active_calls()
            self._post(CallsRead(count, "read", group))
        except (PlatformError, TimeoutError) as exc:
            self._post(CallsRead(None, f"unknown: {exc}", group))

    async def _edge(self, platform: EdgeView) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                view = await platform.edge_view()
        except (PlatformError, TimeoutError) as exc:
            log.info("the platform's edge view is unavailable: %s", exc,
                     extra=fields("edge_view_unavailable", error=str(exc)))
            view = {}
        self._pushed(view, None)

    def _pushed(self, view: dict[str, bool | None], as_of: float | None) -> None:
        """The edge view by carrier role; `as_of` None: read just now (polled)."""
        self._post(EdgeRead(tuple((role, view.get(group)) for role, group in self.groups.items()), as_of))

    async def _checks(self) -> None:
        """Each carrier after the chain's first: its stored checks, as its readiness."""
        for carrier in self.later:
            try:
                latest = await self.link.call(self.link.store.latest_checks, carrier)
            except StoreError as exc:
                log.warning("cannot read the stored check results: %s", exc,
                            extra=fields("checks_read_failed", error=str(exc)))
                return
            self._post(ChecksRead(readiness_from(latest, self._clock(), self._ages), carrier))

    async def _recheck(self, *, sweep: bool) -> None:
        rules = self.rules
        results: list[CheckResult] = []
        later = self.later
        certs: CheckResult | None = None
        for carrier in later:
            try:
                if not sweep and rules.certs and certs is None:  # every TLS trunk's, read once for all
                    certs = await self.checks.certs(carrier)
                results += [await self.checks.sweep(carrier)] if sweep else \
                    [*([replace(certs, carrier=carrier)] if certs is not None else []),
                     *([await self.checks.parity(carrier)] if rules.parity else [])]
            except (TrunkguardError, OSError) as exc:
                log.warning("readiness re-check of the %s carrier failed to run: %s", carrier, exc,
                            extra=fields("recheck_failed", carrier=carrier, error=str(exc)))
        if certs is not None and self._notify is not None:  # paged once, however many carriers it counts for
            for page in cert_pages(certs, rules.warn_days):
                self._notify(page)
        term = self.lease.current().term
        for r in results:
            log.log(logging.INFO if r.ok else logging.WARNING, "readiness re-check: %s %s (%s)", r.check,
                    "passed" if r.ok else "FAILED", r.summary, extra=fields("recheck_done", check=r.check, ok=r.ok))
            if term is None:
                continue
            try:
                await self.link.call(r.save, self.link.store, term)
            except StoreError as exc:
                log.warning("could not store the %s result: %s", r.check, exc,
                            extra=fields("check_store_failed", check=r.check, error=str(exc)))
        await self._checks()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._stop.set()
        if self._feed_task is not None:
            self._feed_task.cancel()
            await asyncio.gather(self._feed_task, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def cert_pages(result: CheckResult, warn_days: float) -> list[Notify]:
    """A certificate re-check's pages: critical for a failed or expired certificate, a warning
    within `tls.warn_days` of expiry (dedup keys keep an hourly re-check from opening new incidents)."""
    critical, warning, unpinned = [], [], []
    for cert in result.result.get("certs") or []:
        days, trunk = cert.get("days_left"), cert.get("trunk")
        if cert.get("pin") == "mismatch" and cert.get("pin_mode") == "report":  # enforce fails: critical below
            unpinned.append(f"{trunk}: public key SHA-256 {cert.get('spki_sha256')} matches none of tls.pin_sha256")
        if cert.get("error") or not cert.get("chain_ok", True) or not cert.get("hostname_ok", True):
            critical.append(f"{trunk}: {cert.get('error') or 'the certificate does not match or verify'}")
        elif days is not None and days <= 0:
            critical.append(f"{trunk}: expired {-float(days):g} days ago ({cert.get('not_after')})")
        elif days is not None and days <= warn_days:
            warning.append(f"{trunk}: expires in {float(days):g} days ({cert.get('not_after')})")
    pages = []
    if critical:
        pages.append(Notify("cert_failed", "critical", "TLS certificate check failed: " + "; ".join(critical)))
    if warning:
        pages.append(Notify("cert_expiring", "warning", "TLS certificate expiring soon: " + "; ".join(warning)))
    if unpinned:
        pages.append(Notify("cert_pin", "warning", "TLS certificate pin mismatch (pin_mode report: probes go on): "
                            + "; ".join(unpinned)))
    return pages
