"""The wiring between the config and the pure core: the core never imports the config, so the
rules it runs on are built here, as plain frozen values, for the daemon and the simulator alike."""

from __future__ import annotations

import secrets

from trunkguard.config import Config, Policy
from trunkguard.core.failover import PolicyRules
from trunkguard.core.health import HealthRules
from trunkguard.core.machine import MachineRules
from trunkguard.core.scheduler import TrunkSpec, spread
from trunkguard.core.vantage import QuorumRules, quorum_need
from trunkguard.parity import reads_live
from trunkguard.sim.runner import SimTrunk, SimWorld

GATES = ("trunks", "sweep", "certs", "parity")


def quorum_rules(config: Config) -> QuorumRules:
    v = config.vantages
    counted = len(v.names) + v.edge
    return QuorumRules(tuple(v.names), quorum_need(config.policy.quorum, counted), v.edge, v.stale_after,
                       max(v.stale_after, 2 * config.policy.poll_interval))


def unconfigured_gates(config: Config) -> tuple[tuple[str, str], ...]:
    """Gates that are on but have nothing to check: (gate, why). They are left out of the decision and
    said in words, never a silent, permanent block. Parity compares the two carriers' `profile`s, or
    what the platform has where it keeps trunk settings (then a profile is optional)."""
    carriers = config.carriers
    if not config.policy.readiness.parity or reads_live(config):
        return ()
    missing = [role for role in ("primary", "secondary") if getattr(carriers, role).profile is None]
    if len(missing) == 2:
        return (("parity", "no profiles in the config"),)
    if missing:
        return (("parity", f"no profile for the {missing[0]} carrier in the config"),)
    return ()


def policy_rules(policy: Policy, *, key_prefix: str = "swap", quorum: QuorumRules | None = None,
                 unconfigured: tuple[tuple[str, str], ...] = ()) -> PolicyRules:
    r = policy.readiness
    off = {gate for gate, _ in unconfigured}
    return PolicyRules(quorum=quorum or QuorumRules(), cooling_period=policy.cooling_period,
                       failback_mode=policy.failback.mode,
                       sustained_recovery=policy.failback.sustained_recovery,
                       max_active_calls=policy.breaker.max_active_calls, queue_timeout=policy.breaker.queue_timeout,
                       hard_down_bypass=policy.breaker.hard_down_bypass, poll_interval=policy.poll_interval,
                       gates=frozenset(g for g in GATES if getattr(r, g) and g not in off),
                       unconfigured=unconfigured, key_prefix=key_prefix,
                       observe=policy.mode == "observe",
                       down_below=policy.primary_down_when.fewer_usable_than or 1,
                       down_fraction=policy.primary_down_when.usable_fraction_below or 0.0)


def trunk_specs(config: Config) -> tuple[TrunkSpec, ...]:
    """Every trunk's probing rules, with its offset on its carrier's wheel (config order)."""
    specs = []
    for role, carrier, trunk in config.all_trunks():
        h = carrier.health_of(trunk)
        cap = carrier.health.correlate_max_probes or 2 * len(carrier.trunks)
        media = carrier.media
        specs.append(TrunkSpec(trunk.name, role, h.interval, h.timeout, h.confirm_interval,
                               HealthRules(h.down_after, h.up_after, h.confirm_burst, media.down_after, media.up_after,
                                           targets_all=h.targets == "all"),
                               media.interval if media.enabled else None,
                               media_confirm_interval=media.confirm_every,
                               correlate=carrier.health.correlate and len(carrier.trunks) > 1, correlate_max=cap))
    return spread(specs)


def machine_rules(config: Config, *, key_prefix: str = "swap", vantage: str = "") -> MachineRules:
    """The machine's rules; `vantage`: this process's name, under which its own view counts."""
    return MachineRules(trunk_specs(config), policy_rules(config.policy, key_prefix=key_prefix,
                                                          quorum=quorum_rules(config),
                                                          unconfigured=unconfigured_gates(config)), vantage=vantage)


def sim_world(config: Config) -> SimWorld:
    """What `simulate` and `replay` need: the machine's rules, and each trunk's alive codes and media check."""
    return SimWorld(machine_rules(config), {t.name: SimTrunk(t.alive_codes, c.media.duration, c.media.rtp_timeout,
                                                             c.media.max_loss_pct / 100)
                                            for _, c, t in config.all_trunks()})


def swap_key_prefix() -> str:
    """The daemon's idempotency keys start with this: 48 random bits drawn at start-up, so no key is
    ever used twice, not after a restart and not with a fresh store against the same platform
    (the key counter lives in the store; a platform remembers keys far longer)."""
    return f"swap-{secrets.token_hex(6)}"
