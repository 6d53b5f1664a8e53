"""Assembling the daemon from a config: store, platform, notifications, engine, API; and its signals."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trunkguard.actuation.base import Platform
from trunkguard.actuation.factory import platform_from_config
from trunkguard.api.app import create_api
from trunkguard.asgi import serving
from trunkguard.config import Config
from trunkguard.engine.daemon import Engine
from trunkguard.errors import ConfigError
from trunkguard.notify import Dispatcher, Sender, senders_from_config
from trunkguard.store import Store


def listen_address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def api_token(config: Config, environ: Mapping[str, str] | None = None) -> str | None:
    """The API token from the environment; None (no auth) is allowed only on a loopback address."""
    env = os.environ if environ is None else environ
    var = config.api.token_env
    if var is None:
        host, _ = listen_address(config.api.listen)
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConfigError([("api.token_env", "is required when api.listen is not a loopback address")])
        return None
    token = env.get(var, "")
    if not token:
        raise ConfigError([("api.token_env", f"environment variable {var} is not set (the API's write "
                                             "actions need a token)")], "environment")
    return token


@dataclass
class Service:
    engine: Engine
    token: str | None

    @classmethod
    def build(cls, config: Config, environ: Mapping[str, str] | None = None, **engine_kw: Any) -> Service:
        """Everything that can be refused at start-up is checked here, before anything listens."""
        problems: list[tuple[str, str]] = []
        token: str | None = None
        senders: list[Sender] = []
        platform: Platform | None = None
        try:
            token = api_token(config, environ)
        except ConfigError as exc:
            problems.extend(exc.problems)
        try:
            senders = senders_from_config(config.notify, environ)
        except ConfigError as exc:
            problems.extend(exc.problems)
        try:
            platform = platform_from_config(config, environ)
        except ConfigError as exc:
            problems.extend(exc.problems)
        if problems or platform is None:
            raise ConfigError(problems, "config and environment")
        store = Store.open(config.storage.url)
        engine = Engine(config, store=store, platform=platform, dispatcher=Dispatcher(senders), **engine_kw)
        return cls(engine, token)

    async def run(self, stop: asyncio.Event, *, on_ready: Callable[[], None] | None = None) -> None:
        host, port = listen_address(self.engine.config.api.listen)
        try:
            async with serving(create_api(self.engine, self.token), host, port):
                if on_ready:
                    on_ready()
                await self.engine.run(stop)
        finally:
            await self.engine.platform.close()
            self.engine.store.close()


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stopping, stop, sig)


def _stopping(stop: asyncio.Event, sig: signal.Signals) -> None:
    logging.getLogger("trunkguard").info("%s received: stopping cleanly", sig.name)
    stop.set()
