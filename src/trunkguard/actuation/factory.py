"""Build the configured platform adapter, reading credentials from the environment variables named."""

from __future__ import annotations

import os
from collections.abc import Mapping

from trunkguard.actuation.base import Platform
from trunkguard.actuation.generic import GenericPlatform
from trunkguard.actuation.http import PlatformHttp
from trunkguard.config import Config
from trunkguard.errors import ConfigError


def platform_from_config(config: Config, environ: Mapping[str, str] | None = None) -> Platform:
    env = os.environ if environ is None else environ
    p = config.platform
    if p is None:
        raise ConfigError([("platform", "is required to run the daemon (kind: generic | genesys | cxone | emulator)")])
    problems: list[tuple[str, str]] = []
    secrets: dict[str, str | None] = {}
    for field in ("client_id_env", "client_secret_env"):
        var = getattr(p, field)
        secrets[field] = env.get(var) if var else None
        if var and not secrets[field]:
            problems.append((f"platform.{field}", f"environment variable {var} is not set"))
    if problems:
        raise ConfigError(problems, "environment")
    client_id, client_secret = secrets["client_id_env"], secrets["client_secret_env"]
    if p.kind in ("generic", "emulator"):
        if not p.rule_id:
            raise ConfigError([("platform.rule_id", f"is required for kind {p.kind}")])
        http = PlatformHttp(p.base_url, client_id=client_id, client_secret=client_secret, deadline=p.timeout)
        return GenericPlatform(http, rule_id=p.rule_id, queue_id=p.queue_id, fallback_queue_id=p.fallback_queue_id)
    raise ConfigError([("platform.kind", f"{p.kind} is not available in this build")])
