"""The composition root: a config becomes a running service (store, platform, notifications, the
runtime's parts around the machine, the API). Everything that can be refused at start-up is
checked here, before anything listens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from trunkguard.actuation.base import EdgeFeed, Platform
from trunkguard.actuation.cxone import CXONE_TOKEN_URL, CxonePlatform
from trunkguard.actuation.generic import GenericPlatform
from trunkguard.actuation.genesys import GenesysPlatform
from trunkguard.actuation.genesys_channel import EdgeChannel
from trunkguard.actuation.http import PlatformHttp
from trunkguard.api.app import create_api
from trunkguard.api.auth import ApiTokens, NamedToken
from trunkguard.api.metrics import Metrics
from trunkguard.api.scrape import create_metrics_app
from trunkguard.asgi import serving
from trunkguard.config import Config, Notifier, OpsgenieNotify, PagerDutyNotify, RoutingGroup, SlackNotify
from trunkguard.config_checks import check_certs, check_parity_live, check_sweep
from trunkguard.config_reload import changes, refusals
from trunkguard.core.machine import initial, own_view
from trunkguard.credentials import Secrets
from trunkguard.errors import ConfigError
from trunkguard.logs import fields
from trunkguard.notify import Dispatcher, Sender
from trunkguard.notify.opsgenie import Opsgenie
from trunkguard.notify.pagerduty import PagerDuty
from trunkguard.notify.slack import Slack
from trunkguard.notify.webhook import Webhook
from trunkguard.probing import tls_files
from trunkguard.regions import GENESYS_REGIONS, genesys_login_url
from trunkguard.rules import machine_rules, poll_rules, probe_plan, swap_key_prefix, swap_rules
from trunkguard.runtime.actuator import Actuator
from trunkguard.runtime.alerts import Alerts
from trunkguard.runtime.lease import Identity, LeaseKeeper
from trunkguard.runtime.loop import Runtime
from trunkguard.runtime.parts import Parts
from trunkguard.runtime.pollers import Pollers, Rechecks
from trunkguard.runtime.probes import ProbeRunner
from trunkguard.runtime.recorder import Recorder
from trunkguard.runtime.routing import RoutingWatch
from trunkguard.runtime.status import StatusView
from trunkguard.runtime.storelink import StoreLink
from trunkguard.runtime.vantages import VantageLink
from trunkguard.store import Store

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def listen_address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def api_tokens(config: Config, environ: Mapping[str, str] | None = None) -> ApiTokens:
    """The operator and read tokens from the environment (config validation has made sure a
    non-loopback API has both); a variable named but empty is refused."""
    secrets = Secrets(environ, base_dir=config.source_dir)
    found: dict[str, str | None] = {}
    for key, why in (("token", "the API's actions need a token"), ("read_token", "reads need a token")):
        env, file = config.api.secret(key)
        found[key] = secrets.get(f"api.{key}_env", env, why, file=file)
        secrets.check()
    named = []
    for i, t in enumerate(config.api.tokens):
        env, file = t.secret("token")
        value = secrets.get(f"api.tokens.{i}.token_env", env, f"{t.name}'s token", file=file)
        secrets.check()
        assert value is not None
        named.append(NamedToken(t.name, value, t.role))
    values = [n.token for n in named] + [v for v in (found["token"], found["read_token"]) if v]
    if len(set(values)) != len(values):
        raise ConfigError([("api.tokens", "two of the API's tokens have the same value: each must be its own "
                                          "(the name recorded for an action comes from the token)")], "environment")
    return ApiTokens(found["token"], found["read_token"], frozenset(config.api.open_endpoints), tuple(named))


@dataclass
class Service:
    config: Config
    runtime: Runtime
    tokens: ApiTokens
    store: Store
    platform: Platform | None  # None: a vantage agent
    dispatcher: Dispatcher
    reader: StoreLink[Store]  # the API's read-only queries, on their own thread
    lease: LeaseKeeper
    pollers: Pollers | None = None  # None: a vantage agent
    key_prefix: str = "swap"  # this process's swap keys' (each group's adds its name)
    platforms: Sequence[Platform] = ()  # every routing group's adapter (`platform` is the first's)

    @classmethod
    def build(cls, config: Config, environ: Mapping[str, str] | None = None, *,
              clock: Callable[[], float] = time.time, name: str | None = None, agent: bool = False,
              candidate: bool = True) -> Service:
        """`name`: this process's (else TRUNKGUARD_NAME, `replica.name`, the host's). `agent`: a vantage
        agent, which probes and reports its view but never takes the lease, needs no platform
        credentials and sends no notifications."""
        env = os.environ if environ is None else environ
        problems: list[tuple[str, str]] = []
        tokens = ApiTokens()
        senders: list[Sender] = []
        platform: Platform | None = None
        try:
            tokens = api_tokens(config, environ)
        except ConfigError as exc:
            problems.extend(exc.problems)
        platforms: dict[str, Platform] = {}
        if not agent:
            try:
                senders = senders_from_config(config.notify, environ, config.source_dir)
            except ConfigError as exc:
                problems.extend(exc.problems)
            try:
                platforms = {g.name: platform_from_config(config, environ, g) for g in config.routing_groups()}
                platform = next(iter(platforms.values()))
            except ConfigError as exc:
                problems.extend(exc.problems)
        identity = Identity.of_this_process(name or env.get("TRUNKGUARD_NAME") or config.replica.name)
        if not NAME.fullmatch(identity.name):
            problems.append(("name", f"{identity.name!r} is not a name: letters, digits, '.', '_' and '-', "
                                     "starting with a letter or digit, at most 64"))
        if problems or (platform is None and not agent):
            raise ConfigError(problems, "config and environment")
        store = Store.open(config.storage.url)
        dispatcher = Dispatcher(senders)
        prefix = swap_key_prefix()
        rules = machine_rules(config, key_prefix=prefix, vantage=identity.name)
        groups = config.carriers.groups()  # in chain order
        runtime = Runtime(rules, initial(rules, clock()), groups, clock)
        link = StoreLink(store)
        lease = LeaseKeeper(link, config.replica.lease_ttl, clock, identity, candidate=candidate and not agent)
        # Views every report_every when a quorum reads them; otherwise a heartbeat per lease renewal is enough
        # for status (each round is a store transaction and a pass over every trunk).
        every = config.vantages.report_every if config.vantages.names else max(config.vantages.report_every,
                                                                                config.replica.lease_ttl / 3)
        vantages = VantageLink(StoreLink(store, name="members"), identity, "agent" if agent else "replica", every,
                               clock,
                               lambda now: own_view(runtime.state, runtime.rules, now))

        def context() -> dict[str, str]:
            pair = runtime.status().pair
            return {"active": pair.active, "state": pair.state.value}

        routing_groups = config.routing_groups()
        carriers = config.carriers
        incidents = {g.name: f"trunkguard/{g.name}/{carriers[g.chain[0]].trunk_group_id}"
                     for g in routing_groups} if len(routing_groups) > 1 else None

        def group_context(name: str) -> dict[str, str]:
            view = runtime.status().group(name)
            return {"active": view.pair.active, "state": view.pair.state.value} if view is not None else {}

        alerts = Alerts(dispatcher, f"trunkguard/{carriers.first.trunk_group_id}", clock, context,
                        runtime.observe, incidents, group_context)
        link.health = alerts  # the link reports the store's health: paged once per outage, and its end
        recorder = Recorder(link, lease, clock, retention=config.storage.trace_retention)
        pollers = None
        watched: dict[str, tuple[Actuator, RoutingWatch]] = {}
        if platform is not None:
            protocol = swap_rules(config)
            for g in routing_groups:  # each group's own actuator and routing watch, on its own objects
                own = {name: groups[name] for name in g.chain}
                actuator = Actuator(platforms[g.name], link, lease, recorder, alerts, runtime.post, clock, own,
                                    protocol, runtime.observe, group=g.name)
                watched[g.name] = (actuator, RoutingWatch(platforms[g.name], actuator, own, protocol.deadline,
                                                          alerts.notify, runtime.post, clock))
            watches = [w for _, w in watched.values()]

            async def drift() -> None:
                await asyncio.gather(*(w.check_drift() for w in watches))

            later = tuple(c for c in carriers.chain if any(c in g.chain[1:] for g in routing_groups))
            pollers = Pollers(poll_rules(config), rechecks(config, platform), platform, link, lease, runtime.post,
                              clock, groups, edge_feed(config, platform), alerts.notify, drift, later=later,
                              calls=platforms)
        first = next(iter(watched.values()), None)
        runtime.attach(Parts(link, lease, alerts, recorder, ProbeRunner(probe_plan(config), runtime.post, clock),
                             pollers, first[0] if first else None, dispatcher, vantages, first[1] if first else None,
                             watched if len(watched) > 1 else {}))
        return cls(config, runtime, tokens, store, platform, dispatcher, StoreLink(store, name="api-store"), lease,
                   pollers, prefix, tuple(platforms.values()))

    def reload(self, config: Config, environ: Mapping[str, str] | None = None) -> list[str]:
        """Apply a re-read config without a restart (SIGHUP): the policy's numbers, the notification
        destinations and the API tokens, each built once more by the functions start-up builds them with
        (machine_rules, poll_rules, rechecks, senders_from_config, api_tokens). Returns the dotted paths
        that changed. Raises ConfigError, changing nothing, when a part read only at start changed
        (config_reload.AT_START) or a secret cannot be read."""
        changed = changes(self.config, config)
        refused = refusals(changed)
        if refused:
            raise ConfigError(refused, "the new config")
        tokens = api_tokens(config, environ)
        senders = senders_from_config(config.notify, environ, config.source_dir) if self.platform else []
        old = self.runtime.rules
        rules = machine_rules(config, key_prefix=self.key_prefix, vantage=old.vantage)
        assert rules.trunks == old.trunks, "the carriers are unchanged, and so are the trunks' rules"
        self.runtime.reconfigure(rules)
        if self.pollers is not None and self.platform is not None:
            self.pollers.reconfigure(poll_rules(config), rechecks(config, self.platform))
        if self.platform is not None:
            self.dispatcher.replace(senders)
        self.tokens, self.config = tokens, config
        return changed

    def status(self) -> StatusView:
        return self.runtime.status()

    async def run(self, stop: asyncio.Event, *, on_ready: Callable[[], None] | None = None,
                  serve_api: bool = True) -> None:
        """Until `stop`; `serve_api` False: no API (a `trunkguard cycle`, which lives seconds). With
        `api.metrics_listen`, a second, plain-HTTP listener serves /metrics, /healthz and /leader."""
        host, port = listen_address(self.config.api.listen)
        self.dispatcher.start()
        try:
            if not serve_api:
                await self.runtime.run(stop)
                return
            metrics = Metrics(self.runtime)  # one set of counters, whichever port is scraped
            api = create_api(self.runtime, self.reader, lambda: self.tokens, max_body=self.config.api.max_body,
                             stopping=stop, metrics=metrics)
            tls = self.config.api.tls
            async with contextlib.AsyncExitStack() as listening:
                await listening.enter_async_context(serving(api, host, port, certfile=tls.cert_file if tls else None,
                                                            keyfile=tls.key_file if tls else None))
                if self.config.api.metrics_listen is not None:
                    await listening.enter_async_context(serving(create_metrics_app(self.runtime, metrics),
                                                                *listen_address(self.config.api.metrics_listen)))
                if on_ready:
                    on_ready()
                await self.runtime.run(stop)
        finally:
            await self.dispatcher.drain(3)
            await self.dispatcher.close()
            for platform in self.platforms or ([self.platform] if self.platform is not None else []):
                await platform.close()
            self.reader.close()
            self.store.close()


# ---- what the config names, built: the platform adapter and the notification destinations ----

PLATFORM_SECRETS = ("client_id", "client_secret", "access_key_id", "access_key_secret")


def platform_from_config(config: Config, environ: Mapping[str, str] | None = None,
                         group: RoutingGroup | None = None) -> Platform:
    """The adapter that reads and writes a routing group's objects (by default the first group's: the only
    one without `groups`), with its chain's carriers."""
    group = group or config.routing_groups()[0]
    p = group.platform
    if p is None:
        raise ConfigError([("platform", "is required to run the daemon (kind: generic | genesys | cxone | emulator)")])
    reader = Secrets(environ, base_dir=config.source_dir)
    secrets = {name: reader.get(f"platform.{name}_env", p.secret(name)[0], file=p.secret(name)[1])
               for name in PLATFORM_SECRETS}
    reader.check()
    client_id, client_secret = secrets["client_id"], secrets["client_secret"]
    base = p.base_url or GENESYS_REGIONS[p.region or ""]
    every = config.carriers.groups()
    chain = tuple((name, every[name]) for name in group.chain)
    if p.kind == "genesys":
        http = PlatformHttp(base, client_id=client_id, client_secret=client_secret, deadline=p.timeout,
                            token_url=p.login_url or genesys_login_url(base))
        sites, routes = p.route_limits()
        return GenesysPlatform(http, sites=sites, outbound_routes=routes,
                               primary_trunk_base=chain[0][1], secondary_trunk_base=chain[1][1],
                               datatable_id=p.datatable_id, datatable_row=p.datatable_row,
                               manage_trunk_enabled=p.manage_trunk_enabled, chain=chain)
    if p.kind == "cxone":
        form = {"grant_type": "password", "username": secrets["access_key_id"] or "",
                "password": secrets["access_key_secret"] or ""}
        http = PlatformHttp(base, client_id=client_id, client_secret=client_secret, deadline=p.timeout,
                            token_url=p.login_url or CXONE_TOKEN_URL, token_form=form)
        assert p.point_of_contact_id
        return CxonePlatform(http, point_of_contact_id=p.point_of_contact_id)
    assert p.rule_id
    http = PlatformHttp(base, client_id=client_id, client_secret=client_secret, deadline=p.timeout,
                        token_url=p.login_url or "/oauth/token")
    return GenericPlatform(http, rule_id=p.rule_id, queue_id=p.queue_id, fallback_queue_id=p.fallback_queue_id)


def senders_from_config(notifiers: Sequence[Notifier], environ: Mapping[str, str] | None = None,
                        base_dir: Path | None = None) -> list[Sender]:
    """Build the destinations, reading each key or URL from the variable or file it names."""
    secrets = Secrets(environ, base_dir=base_dir)
    senders: list[Sender] = []
    for i, n in enumerate(notifiers):
        [name] = n.required_secrets
        env, file = n.secret(name)
        secret = secrets.get(f"notify[{i}].{name}_env", env, file=file)
        if secret is None:
            continue
        sender: Sender
        if isinstance(n, PagerDutyNotify):
            sender = PagerDuty(secret, n.base_url)
        elif isinstance(n, OpsgenieNotify):
            sender = Opsgenie(secret, n.base_url)
        elif isinstance(n, SlackNotify):
            sender = Slack(secret)
        else:
            sender = Webhook(secret)
        sender.min_severity = n.min_severity
        senders.append(sender)
    secrets.check()
    return senders


def rechecks(config: Config, platform: Platform) -> Rechecks:
    """The readiness checks the leader re-runs, over this config and platform (parity read live where
    the platform keeps trunk settings)."""
    return Rechecks(lambda carrier: check_sweep(config, carrier), lambda carrier: check_certs(config, carrier),
                    lambda carrier: check_parity_live(config, platform, carrier=carrier))


def edge_feed(config: Config, platform: Platform) -> EdgeFeed | None:
    """Genesys pushes its edge view through a notification channel (unless `platform.edge_push` is off)."""
    if isinstance(platform, GenesysPlatform) and config.platform is not None and config.platform.edge_push:
        return EdgeChannel(platform)
    return None


def stop_on_signals(stop: asyncio.Event, *, on_stop: Callable[[], None] | None = None,
                    on_hup: Callable[[], None] | None = None) -> None:
    """SIGTERM and SIGINT set `stop` (and call `on_stop`: systemd hears STOPPING=1); SIGHUP reads the
    trunks' TLS files again, then calls `on_hup` (the daemon re-reads its config)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stopping, stop, sig, on_stop)
    loop.add_signal_handler(signal.SIGHUP, _hangup, on_hup)


def _stopping(stop: asyncio.Event, sig: signal.Signals, then: Callable[[], None] | None) -> None:
    logging.getLogger("trunkguard").info("%s received: stopping cleanly", sig.name,
                                         extra=fields("stopping", signal=sig.name))
    stop.set()
    if then is not None:
        then()


def _hangup(then: Callable[[], None] | None) -> None:
    tls_files.reload()  # trunks' TLS files read again at their next connection, no restart
    if then is not None:
        then()
