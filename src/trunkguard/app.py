"""The composition root: a config becomes a running service (store, platform, notifications, the
runtime's parts around the machine, the API). Everything that can be refused at start-up is
checked here, before anything listens."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from trunkguard.actuation.base import EdgeFeed, Platform
from trunkguard.actuation.cxone import CXONE_TOKEN_URL, CxonePlatform
from trunkguard.actuation.generic import GenericPlatform
from trunkguard.actuation.genesys import GenesysPlatform
from trunkguard.actuation.genesys_channel import EdgeChannel
from trunkguard.actuation.http import PlatformHttp
from trunkguard.api.app import create_api
from trunkguard.api.auth import ApiTokens, NamedToken
from trunkguard.asgi import serving
from trunkguard.config import Config, Notifier, OpsgenieNotify, PagerDutyNotify, SlackNotify
from trunkguard.config_checks import check_certs, check_parity_live, check_sweep
from trunkguard.core.failover import Role
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
    secrets = Secrets(environ)
    found: dict[str, str | None] = {}
    for key, why in (("token_env", "the API's actions need a token"), ("read_token_env", "reads need a token")):
        found[key] = secrets.get(f"api.{key}", getattr(config.api, key), why)
        secrets.check()
    named = []
    for i, t in enumerate(config.api.tokens):
        value = secrets.get(f"api.tokens.{i}.token_env", t.token_env, f"{t.name}'s token")
        secrets.check()
        assert value is not None
        named.append(NamedToken(t.name, value, t.role))
    values = [n.token for n in named] + [v for v in (found["token_env"], found["read_token_env"]) if v]
    if len(set(values)) != len(values):
        raise ConfigError([("api.tokens", "two of the API's tokens have the same value: each must be its own "
                                          "(the name recorded for an action comes from the token)")], "environment")
    return ApiTokens(found["token_env"], found["read_token_env"], frozenset(config.api.open_endpoints), tuple(named))


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
        if not agent:
            try:
                senders = senders_from_config(config.notify, environ)
            except ConfigError as exc:
                problems.extend(exc.problems)
            try:
                platform = platform_from_config(config, environ)
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
        rules = machine_rules(config, key_prefix=swap_key_prefix(), vantage=identity.name)
        groups = {Role.PRIMARY: config.carriers.primary.trunk_group_id,
                  Role.SECONDARY: config.carriers.secondary.trunk_group_id}
        runtime = Runtime(rules, initial(rules, clock()), {r.value: g for r, g in groups.items()}, clock)
        link = StoreLink(store)
        lease = LeaseKeeper(link, config.replica.lease_ttl, clock, identity, candidate=candidate and not agent)
        # Views every report_every when a quorum reads them; otherwise a heartbeat per lease renewal is enough
        # for status (each round is a store transaction and a pass over every trunk).
        every = config.vantages.report_every if config.vantages.names else max(config.vantages.report_every,
                                                                                config.replica.lease_ttl / 3)
        vantages = VantageLink(StoreLink(store, name="members"), identity, "agent" if agent else "replica", every,
                               clock,
                               lambda now: own_view(runtime.state, rules, now))

        def context() -> dict[str, str]:
            pair = runtime.status().pair
            return {"active": pair.active.value, "state": pair.state.value}

        alerts = Alerts(dispatcher, f"trunkguard/{groups[Role.PRIMARY]}", clock, context, runtime.observe)
        link.health = alerts  # the link reports the store's health: paged once per outage, and its end
        recorder = Recorder(link, lease, clock, retention=config.storage.trace_retention)
        actuator = pollers = routing = None
        if platform is not None:
            actuator = Actuator(platform, link, lease, recorder, alerts, runtime.post, clock, groups,
                                swap_rules(config), runtime.observe)
            routing = RoutingWatch(platform, actuator, groups, swap_rules(config).deadline, alerts.notify,
                                   runtime.post, clock)
            pollers = Pollers(poll_rules(config), rechecks(config, platform), platform, link, lease, runtime.post,
                              clock, groups, edge_feed(config, platform), alerts.notify, routing.check_drift)
        runtime.attach(Parts(link, lease, alerts, recorder, ProbeRunner(probe_plan(config), runtime.post, clock),
                             pollers, actuator, dispatcher, vantages, routing))
        return cls(config, runtime, tokens, store, platform, dispatcher, StoreLink(store, name="api-store"), lease)

    def status(self) -> StatusView:
        return self.runtime.status()

    async def run(self, stop: asyncio.Event, *, on_ready: Callable[[], None] | None = None,
                  serve_api: bool = True) -> None:
        """Until `stop`; `serve_api` False: no API (a `trunkguard cycle`, which lives seconds)."""
        host, port = listen_address(self.config.api.listen)
        self.dispatcher.start()
        try:
            if not serve_api:
                await self.runtime.run(stop)
                return
            api = create_api(self.runtime, self.reader, self.tokens, max_body=self.config.api.max_body, stopping=stop)
            tls = self.config.api.tls
            async with serving(api, host, port, certfile=tls.cert_file if tls else None,
                               keyfile=tls.key_file if tls else None):
                if on_ready:
                    on_ready()
                await self.runtime.run(stop)
        finally:
            await self.dispatcher.drain(3)
            await self.dispatcher.close()
            if self.platform is not None:
                await self.platform.close()
            self.reader.close()
            self.store.close()


# ---- what the config names, built: the platform adapter and the notification destinations ----

SECRET_FIELDS = ("client_id_env", "client_secret_env", "access_key_id_env", "access_key_secret_env")


def platform_from_config(config: Config, environ: Mapping[str, str] | None = None) -> Platform:
    p = config.platform
    if p is None:
        raise ConfigError([("platform", "is required to run the daemon (kind: generic | genesys | cxone | emulator)")])
    reader = Secrets(environ)
    secrets = {field: reader.get(f"platform.{field}", getattr(p, field)) for field in SECRET_FIELDS}
    reader.check()
    client_id, client_secret = secrets["client_id_env"], secrets["client_secret_env"]
    base = p.base_url or GENESYS_REGIONS[p.region or ""]
    carriers = config.carriers
    if p.kind == "genesys":
        http = PlatformHttp(base, client_id=client_id, client_secret=client_secret, deadline=p.timeout,
                            token_url=p.login_url or genesys_login_url(base))
        sites, routes = p.route_limits()
        return GenesysPlatform(http, sites=sites, outbound_routes=routes,
                               primary_trunk_base=carriers.primary.trunk_group_id,
                               secondary_trunk_base=carriers.secondary.trunk_group_id,
                               datatable_id=p.datatable_id, datatable_row=p.datatable_row,
                               manage_trunk_enabled=p.manage_trunk_enabled)
    if p.kind == "cxone":
        form = {"grant_type": "password", "username": secrets["access_key_id_env"] or "",
                "password": secrets["access_key_secret_env"] or ""}
        http = PlatformHttp(base, client_id=client_id, client_secret=client_secret, deadline=p.timeout,
                            token_url=p.login_url or CXONE_TOKEN_URL, token_form=form)
        assert p.point_of_contact_id
        return CxonePlatform(http, point_of_contact_id=p.point_of_contact_id)
    assert p.rule_id
    http = PlatformHttp(base, client_id=client_id, client_secret=client_secret, deadline=p.timeout,
                        token_url=p.login_url or "/oauth/token")
    return GenericPlatform(http, rule_id=p.rule_id, queue_id=p.queue_id, fallback_queue_id=p.fallback_queue_id)


def senders_from_config(notifiers: Sequence[Notifier], environ: Mapping[str, str] | None = None) -> list[Sender]:
    """Build the destinations, reading each key or URL from the environment variable it names."""
    secrets = Secrets(environ)
    senders: list[Sender] = []
    for i, n in enumerate(notifiers):
        var = (n.routing_key_env if isinstance(n, PagerDutyNotify) else n.api_key_env if isinstance(n, OpsgenieNotify)
               else n.webhook_url_env if isinstance(n, SlackNotify) else n.url_env)
        field = next(k for k in type(n).model_fields if k.endswith("_env"))
        secret = secrets.get(f"notify[{i}].{field}", var)
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
    return Rechecks(lambda: check_sweep(config), lambda: check_certs(config),
                    lambda: check_parity_live(config, platform))


def edge_feed(config: Config, platform: Platform) -> EdgeFeed | None:
    """Genesys pushes its edge view through a notification channel (unless `platform.edge_push` is off)."""
    if isinstance(platform, GenesysPlatform) and config.platform is not None and config.platform.edge_push:
        return EdgeChannel(platform)
    return None


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stopping, stop, sig)
    loop.add_signal_handler(signal.SIGHUP, tls_files.reload)  # trunks' TLS files read again, no restart


def _stopping(stop: asyncio.Event, sig: signal.Signals) -> None:
    logging.getLogger("trunkguard").info("%s received: stopping cleanly", sig.name,
                                         extra=fields("stopping", signal=sig.name))
    stop.set()
