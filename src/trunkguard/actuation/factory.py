"""Build the configured platform adapter, reading credentials from the environment variables named."""

from __future__ import annotations

from collections.abc import Mapping

from trunkguard.actuation.base import Platform
from trunkguard.actuation.cxone import CXONE_TOKEN_URL, CxonePlatform
from trunkguard.actuation.generic import GenericPlatform
from trunkguard.actuation.genesys import GenesysPlatform
from trunkguard.actuation.http import PlatformHttp
from trunkguard.actuation.regions import GENESYS_REGIONS, genesys_login_url
from trunkguard.config import Config
from trunkguard.credentials import Secrets
from trunkguard.errors import ConfigError

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
