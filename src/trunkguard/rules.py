"""The wiring between the config and the pure core: the core never imports the config, so the
rules it runs on are built here, as plain frozen values, for the daemon and the simulator alike."""

from __future__ import annotations

import secrets

from trunkguard.actuation.swap import SwapRules
from trunkguard.config import CarrierConfig, Config, Policy, TrunkConfig
from trunkguard.config_advice import unconfigured_gates_of
from trunkguard.core.failover import PolicyRules
from trunkguard.core.health import HealthRules
from trunkguard.core.machine import GroupRules, MachineRules
from trunkguard.core.quorum import quorum_need
from trunkguard.core.scheduler import TrunkSpec, spread
from trunkguard.core.vantage import QuorumRules
from trunkguard.probing.quality import MediaLimits
from trunkguard.probing.sip_invite import CallPlan
from trunkguard.probing.sip_options import OptionsCheck, tls_context
from trunkguard.probing.tls_files import TlsFiles
from trunkguard.readiness import CHECKS
from trunkguard.runtime.pollers import PollRules
from trunkguard.runtime.probes import ProbePlan
from trunkguard.sim.runner import SimTrunk, SimWorld
from trunkguard.sip.uri import SipUri, Transport

GATES = ("trunks", "sweep", "certs", "parity")


def quorum_rules(config: Config) -> QuorumRules:
    v = config.vantages
    counted = len(v.names) + v.edge
    return QuorumRules(tuple(v.names), quorum_need(config.policy.quorum, counted), v.edge, v.stale_after,
                       max(v.stale_after, 2 * config.policy.poll_interval))


def policy_rules(policy: Policy, *, key_prefix: str = "swap", quorum: QuorumRules | None = None,
                 unconfigured: tuple[tuple[str, str], ...] = (),
                 chain: tuple[str, ...] = ("primary", "secondary")) -> PolicyRules:
    r = policy.readiness
    off = {gate for gate, _ in unconfigured}
    return PolicyRules(quorum=quorum or QuorumRules(), cooling_period=policy.cooling_period,
                       failback_mode=policy.failback.mode,
                       sustained_recovery=policy.failback.sustained_recovery,
                       max_active_calls=policy.breaker.max_active_calls, queue_timeout=policy.breaker.queue_timeout,
                       hard_down_bypass=policy.breaker.hard_down_bypass, poll_interval=policy.poll_interval,
                       gates=frozenset(g for g in GATES if getattr(r, g) and g not in off),
                       unconfigured=unconfigured, key_prefix=key_prefix, sweep_min_ready=r.sweep_min_ready,
                       observe=policy.mode == "observe",
                       down_below=policy.primary_down_when.fewer_usable_than or 1,
                       down_fraction=policy.primary_down_when.usable_fraction_below or 0.0, chain=chain)


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
    """The machine's rules; `vantage`: this process's name, under which its own view counts. Each routing
    group gets its own policy and chain; with several, its swap keys carry its name (`<prefix>-<group>-3-to-b`),
    so two groups' keys never meet."""
    quorum, routing = quorum_rules(config), config.routing_groups()
    groups = tuple(GroupRules(g.name, policy_rules(g.policy, key_prefix=key_prefix if len(routing) == 1 else
                                                   f"{key_prefix}-{g.name}", quorum=quorum,
                                                   unconfigured=unconfigured_gates_of(config, g), chain=g.chain))
                   for g in routing)
    return MachineRules(trunk_specs(config), groups[0].policy, vantage=vantage, groups=groups)


def tls_files(trunk: TrunkConfig) -> TlsFiles | None:
    """A trunk's TLS settings as frozen values (files, verification, SPKI pins); None for UDP and TCP."""
    if trunk.sip_uri.transport is not Transport.TLS:
        return None
    tls = trunk.tls_settings
    return TlsFiles(tls.ca_file, tls.cert_file, tls.key_file, tls.verify, tuple(p.lower() for p in tls.pin_sha256),
                    tls.pin_mode)


def options_check(carrier: CarrierConfig, trunk: TrunkConfig) -> OptionsCheck:
    """A trunk's OPTIONS probe: its deadline is the `health.timeout` its TrunkSpec (the T1 watch) has too."""
    health = carrier.health_of(trunk)
    return OptionsCheck(trunk.name, trunk.sip_uri, trunk.alive_codes, health.timeout, tls_context(tls_files(trunk)),
                        health.targets)


def call_plan(carrier: CarrierConfig, trunk: TrunkConfig) -> CallPlan:
    """The periodic media check of a trunk: its carrier's codec order, test number and timings."""
    codecs = tuple(carrier.profile.codecs) if carrier.profile else ("PCMU", "PCMA")
    media = carrier.media
    return CallPlan(trunk.sip_uri, number=media.number, codecs=codecs, duration=media.duration,
                    rtp_timeout=media.rtp_timeout, ssl_context=tls_context(tls_files(trunk)))


def probe_plan(config: Config) -> ProbePlan:
    """What the probe runner sends to each trunk (built once, here)."""
    media = [(c, t) for _, c, t in config.all_trunks() if c.media.enabled]
    return ProbePlan({t.name: options_check(c, t) for _, c, t in config.all_trunks()},
                     {t.name: call_plan(c, t) for c, t in media},
                     {t.name: MediaLimits(c.media.max_loss_pct, c.media.max_jitter_ms, c.media.max_rtt_ms)
                      for c, t in media},
                     tuple(config.dns.nameservers))


def tls_trunks(config: Config) -> tuple[tuple[str, SipUri, TlsFiles], ...]:
    """Every TLS trunk with its settings: what the certificate check reads."""
    return tuple((t.name, t.sip_uri, files) for _, _, t in config.all_trunks() if (files := tls_files(t)) is not None)


def max_ages(cfg: Config) -> dict[str, float | None]:
    """How old each check's result may be and still count (None: any age)."""
    r = cfg.policy.readiness
    default = {"sweep": r.sweep_interval, "certs": r.recheck_interval, "parity": r.recheck_interval}
    given = {"sweep": r.sweep_max_age, "certs": r.certs_max_age, "parity": r.parity_max_age}
    return {check: given[check] if given[check] is not None else (2 * default[check] if default[check] else None)
            for check in CHECKS}


def poll_rules(config: Config) -> PollRules:
    r = config.policy.readiness
    gates = {gate for g in machine_rules(config).groups for gate in g.policy.gates}  # any group's gate is re-checked
    return PollRules(timeout=config.platform.timeout if config.platform else 10.0, ages=max_ages(config),
                     recheck_every=r.recheck_interval, sweep_every=r.sweep_interval, certs="certs" in gates,
                     parity="parity" in gates, warn_days=config.tls.warn_days,
                     drift_every=config.platform.drift_check if config.platform else 0.0)


def lint_words(config: Config) -> tuple[list[tuple[str, str]], list[str]]:
    """What a carrier-specific flow must not name (trunk group ids, trunk names and hosts), and trunkguard's
    data table, for `trunkguard flows lint --config`."""
    words: list[tuple[str, str]] = []
    for role, carrier in config.carriers.items():
        words.append((carrier.trunk_group_id, f"the {role} carrier's trunk_group_id (its trunk base)"))
        for trunk in carrier.trunks:
            words.append((trunk.name, f"trunk {trunk.name} of the {role} carrier"))
            words.append((trunk.sip_uri.host, f"the host of trunk {trunk.name} ({role})"))
    tables = [config.platform.datatable_id] if config.platform is not None and config.platform.datatable_id else []
    return words, tables


def swap_rules(config: Config) -> SwapRules:
    """The swap protocol's deadlines: a whole swap by default 4 x `platform.timeout` + `readback_deadline`."""
    p = config.platform
    if p is None:
        return SwapRules()
    return SwapRules(deadline=p.swap_deadline or 4 * p.timeout + p.readback_deadline, readback=p.readback_deadline,
                     settle=p.settle or p.timeout)


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
