"""What a SIGHUP may change in a running daemon, and what only a restart may.

Reloaded: the policy's numbers (`policy`: thresholds, cooling, failback, breaker, readiness), the
certificate warning (`tls.warn_days`), the notification destinations (`notify`) and the API's tokens
(`api.token_*`, `api.read_token_*`, `api.tokens`, `api.open_endpoints`), and a routing group's own
policy (`groups.<name>.policy`). Everything else is read only at start: the carriers and their trunks
(the machine's state and the probe schedule are built on them), the routing groups (their chains,
DIDs and routing objects), the store, the platform, this replica and its vantages, name resolution,
and where and how the API listens. A reload that changes any of those is refused with a sentence
naming what changed, and the daemon keeps running with the config it has.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from trunkguard.config import Config, Policy

RELOADED = ("policy", "tls", "notify", "api.token_env", "api.token_file", "api.read_token_env",
            "api.read_token_file", "api.tokens", "api.open_endpoints")
AT_START = {"carriers": "the carriers and their trunks are", "chain": "the carriers' order is",
            "groups": "the routing groups (their chains, DIDs and routing objects) are",
            "storage": "the store is", "platform": "the platform is",
            "replica": "this replica's name and lease are", "vantages": "the vantages are",
            "dns": "name resolution is", "api": "the API's address, TLS and body limit are"}


def _leaves(value: Any, path: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            _leaves(item, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list):
        out[f"{path}#"] = len(value)
        for i, item in enumerate(value):
            _leaves(item, f"{path}[{i}]", out)
    else:
        out[path] = value
    return out


def changes(old: Config, new: Config) -> list[str]:
    """The dotted paths whose values differ between two configs (a list that grew or shrank: the list)."""
    before, after = _leaves(old.model_dump(mode="json"), "", {}), _leaves(new.model_dump(mode="json"), "", {})
    found = []
    for path in dict.fromkeys([*before, *after]):
        if before.get(path, ...) != after.get(path, ...):
            found.append(path.removesuffix("#"))
    # a list that changed length names the list once, not each entry that came or went
    lists = {p for p in found if f"{p}#" in before or f"{p}#" in after}
    return [p for p in dict.fromkeys(found) if not any(p != q and p.startswith(f"{q}[") for q in lists)]


# groups.<name>.policy and what is under it. A group's name may hold dots, so what follows `.policy` must be
# a path within a policy (groups.x.policy.chain is group x.policy's chain, read only at start).
_GROUP_POLICY = re.compile(r"groups\..+?\.policy(?:\.(?P<rest>.+))?")


def _in_policy(rest: str) -> bool:
    model: type[BaseModel] | None = Policy
    for part in rest.split("."):
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return True


def reloadable(path: str) -> bool:
    group = _GROUP_POLICY.fullmatch(path)
    if group is not None:
        return group["rest"] is None or _in_policy(group["rest"])
    return any(path == part or path.startswith((f"{part}.", f"{part}[")) for part in RELOADED)


def refusals(changed: list[str]) -> list[tuple[str, str]]:
    """(path, why) for each change a reload cannot apply, at most three and a count of the rest."""
    fixed = [p for p in changed if not reloadable(p)]
    found = [(p, f"changed, and {AT_START.get(p.split('.')[0].split('[')[0], 'it is')} read only at start: "
                 "restart trunkguard to apply it") for p in fixed[:3]]
    if len(fixed) > 3:
        found.append(("(and)", f"{len(fixed) - 3} more read only at start"))
    return found
