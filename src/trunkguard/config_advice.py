"""Settings that are valid but work against the guide's design: warned about by `config check`
(errors with `--strict`, for CI pipelines) and logged at start-up, never refused outright.

The guide's asymmetry exists to prevent flapping: the secondary is confirmed down faster than the
primary (down after 2 vs 3), so trunkguard never swaps onto a carrier it would not keep, and a
cooling period keeps a recovered primary from taking calls back at its first good answer.
"""

from __future__ import annotations

from trunkguard.config import Config, RoutingGroup


def reads_live(config: Config) -> bool:
    """Does the configured platform keep each carrier's trunk settings (Genesys Cloud's trunk bases)?
    There parity reads them, and a `profile` is optional."""
    return config.platform is not None and config.platform.kind == "genesys"


# ---- live: the platform's trunk settings ----------------------------------------------------


def unconfigured_gates(config: Config) -> tuple[tuple[str, str], ...]:
    """Gates that are on but have nothing to check: (gate, why). They are left out of the decision and
    said in words, never a silent, permanent block. Parity compares the two carriers' `profile`s, or
    what the platform has where it keeps trunk settings (then a profile is optional). With groups: the
    first group's (as `config.carriers.chain` and `config.platform` are); unconfigured_gates_of for any."""
    return unconfigured_gates_of(config, config.routing_groups()[0])


def unconfigured_gates_of(config: Config, group: RoutingGroup) -> tuple[tuple[str, str], ...]:
    """unconfigured_gates for one routing group: its chain's carriers, under its own policy and platform."""
    live = group.platform is not None and group.platform.kind == "genesys"
    if not group.policy.readiness.parity or live:
        return ()
    missing = [role for role in group.chain if config.carriers[role].profile is None]
    if len(missing) == len(group.chain):
        return (("parity", "no profiles in the config"),)
    if missing:
        return (("parity", f"no profile for the {' and '.join(missing)} carrier in the config"),)
    return ()


def _policy_key(config: Config, group: RoutingGroup, dotted: str) -> str:
    """Where a group's policy value was written: under the group when its own policy sets it, else policy."""
    own: object = (config.groups[group.name].policy or {}) if config.groups is not None else {}
    for part in dotted.split("."):
        if not isinstance(own, dict) or part not in own:
            return f"policy.{dotted}"
        own = own[part]
    return f"groups.{group.name}.policy.{dotted}"


def policy_warnings(config: Config) -> list[tuple[str, str]]:
    """(dotted field, why) for each setting likely to make trunkguard flap or swap on noise; with groups,
    each group's chain and policy are looked at."""
    out: list[tuple[str, str]] = []
    groups = config.routing_groups()
    firsts = {group.chain[0] for group in groups}
    for group in groups if len(groups) > 1 else ():  # each group's breaker reads its own platform's calls
        p = group.platform
        if p is not None and p.kind in ("generic", "emulator") and p.queue_id is None:
            out.append((f"groups.{group.name}.platform.queue_id", "not set: the group's breaker counts the live "
                                                                   "calls of every queue, so another group's busy "
                                                                   "hour can hold its move back"))
        if p is not None and p.kind == "cxone":
            out.append((f"groups.{group.name}.platform", "CXone reports the whole tenant's live calls: every "
                                                         "group's breaker counts them all"))
    for group in groups:
        first, primary = group.chain[0], config.carriers[group.chain[0]]
        for name in group.chain[1:]:
            secondary = config.carriers[name]
            # a carrier first in another group keeps that group's primary's count, on purpose
            if name not in firsts and secondary.health.down_after >= primary.health.down_after:
                out.append((f"carriers.{name}.health.down_after",
                            f"{secondary.health.down_after} is not below the {first}'s {primary.health.down_after}: "
                            f"the guide confirms the {'secondary' if name == 'secondary' else 'later carriers'} down "
                            "faster (2 vs 3) so a swap never lands on a carrier failing too"))
    for group in groups:
        if group.policy.cooling_period == 0:
            out.append((_policy_key(config, group, "cooling_period"),
                        "0s: a recovered primary can take calls back at its first good answer; the guide waits 90s"))
    for role, carrier, trunk in config.all_trunks():
        h = carrier.health_of(trunk)
        where = f"carriers.{role}.health" if trunk.health is None else f"carriers.{role}.trunks.{trunk.name}.health"
        if h.down_after == 1 or (h.confirm_burst == 1 and h.down_after <= 2):
            out.append((f"{where}.down_after", f"down after {h.down_after} with confirm_burst {h.confirm_burst}: "
                                               "one or two lost probes mark the trunk down; on a lossy link it "
                                               "will flap (docs/detection.md)"))
        if h.up_after == 1 and role in firsts:
            out.append((f"{where}.up_after", f"1: a single good answer counts the {role} as recovered"))
        if carrier.media.enabled and carrier.media.down_after == 1:
            out.append((f"carriers.{role}.media.down_after", "1: one failed test call (a busy test number, one "
                                                             "edge's 503) makes the trunk unusable"))
    v = config.vantages
    counted = len(v.names) + v.edge
    for group in groups:
        if counted > 1 and group.policy.quorum == 1:
            out.append((_policy_key(config, group, "quorum"),
                        f"1 of {counted} vantages: any one whose path to the primary breaks moves the routing; a "
                        "majority keeps one site's network from being taken for the carrier's"))
    if v.names and config.storage.url.startswith("sqlite"):
        out.append(("storage.url", "SQLite with vantages: only processes on this host can share the file; agents "
                                   "at other sites need a PostgreSQL store they all reach"))
    for group in groups:
        for gate, why in unconfigured_gates_of(config, group):
            out.append((_policy_key(config, group, f"readiness.{gate}"),
                        f"on, but not configured ({why}): the {gate} gate cannot check anything, so it does not "
                        "block a swap; add a profile to each carrier to compare them, or set it to false to say so"))
    return list(dict.fromkeys(out))
