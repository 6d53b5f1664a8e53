"""Prometheus metrics in the blackbox_exporter style, on the daemon's `/metrics`.

Counters and the decision-latency histogram are fed by the runtime's observations; gauges are read
from the status snapshot it published last, at scrape time. Times are Unix timestamps
(`*_timestamp_seconds`), not ages: a value that does not change between scrapes, which an alert turns
into an age with `time() - x`.

Routing groups: every series about a group's routing (where its calls go, its pair's state, its swaps,
its readiness gates, its maintenance, its mode) and the carrier counts carry a `group` label, one
series per group (`default` for a config without `groups:`); a carrier in two groups' chains has its
counts once under each. The per-trunk series (probes, round trips, trunk and target states, media)
do not: a trunk shared by two groups would be exported, and counted, twice, on the scrape that is
already the cost at thousands of trunks. `trunkguard_group_carrier{group,carrier,rank}` (1, rank 0 for
the chain's first) joins any of them to its groups by `carrier`.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trunkguard.api.trunk_metrics import TrunkSeries
from trunkguard.core.failover import PairState
from trunkguard.runtime.loop import Runtime
from trunkguard.runtime.status import GroupView, StatusView

SWAP_RESULTS = ("applied", "failed")  # trunkguard_swaps_total's `result`, as observe() sets it
SEVERITIES = ("info", "warning", "critical")  # trunkguard_notifications_posted_total's `severity`
NO_GROUP = ""  # the `group` of a notification about the whole deployment (the store, the lease, certificates)


class Metrics:
    """Every family of `/metrics` on one registry: the counters and histograms fed by observations, the
    gauges read from the published status, the per-trunk series (api/trunk_metrics.py), the process
    and the build. Served by prometheus_client's ASGI app (api/scrape.py)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series: nobody graphs them
        self.registry = CollectorRegistry(auto_describe=True)  # ProcessCollector has no describe(): names by collect
        self.rtt = Histogram("trunkguard_probe_rtt_seconds", "OPTIONS round-trip times, by carrier.", ["carrier"],
                             buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2), registry=self.registry)
        self.carrier_of = {t.name: t.carrier for t in runtime.rules.trunks}
        self.first_group = runtime.rules.groups[0].name  # an observation without a group: the only group's
        self.swaps = Counter("trunkguard_swaps", "Swaps finished, by routing group, target carrier and result.",
                             ["group", "to", "result"], registry=self.registry)
        self.posted = Counter("trunkguard_notifications_posted", "Notifications trunkguard posted (before delivery: "
                              "trunkguard_notifications_total counts them by destination), by the routing group they "
                              "are about (empty: the whole deployment, such as the store) and severity.",
                              ["group", "severity"], registry=self.registry)
        self.decision = Histogram("trunkguard_decision_latency_seconds",
                                  "From the loop waking on an event to the decision persisted and acted on.",
                                  buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
                                  registry=self.registry)
        self.trunks = TrunkSeries(((t.name, t.carrier, t.media_interval is not None) for t in runtime.rules.trunks),
                                  runtime.status)
        self._zero(runtime)
        runtime.subscribe(self.observe)
        self.registry.register(_StatusCollector(runtime, self))
        self.registry.register(self.trunks)
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, process_resident_memory_bytes, ...
        Info("trunkguard_build", "The running trunkguard's version.", registry=self.registry).info(
            {"version": version("trunkguard")})

    def _zero(self, runtime: Runtime) -> None:
        """Every label set the counters can take, at 0 from the start: `increase()` needs a sample before
        the first probe, swap or failure, or the first one after a start is never seen (an alert on a
        failed swap would stay quiet until the second)."""
        for t in runtime.rules.trunks:  # the probe counters start at 0 in TrunkSeries
            self.rtt.labels(t.carrier)
        for group in runtime.rules.groups:
            for carrier in group.policy.chain:
                for result in SWAP_RESULTS:
                    self.swaps.labels(group.name, carrier, result)
        for name in (*(g.name for g in runtime.rules.groups), NO_GROUP):
            for severity in SEVERITIES:
                self.posted.labels(name, severity)

    def observe(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "probe":
            carrier = self.carrier_of.get(data["trunk"], "")
            # "" for a probe whose outcome is not known (none in the daemon): counted by its `ok`
            outcome = data.get("outcome") or ("ok" if data["ok"] else "error")
            self.trunks.probed(data["trunk"], data["kind"], outcome)
            if data["kind"] != "media" and data.get("rtt_ms") is not None:
                self.rtt.labels(carrier).observe(float(data["rtt_ms"]) / 1000)
        elif kind == "swap_done":
            self.swaps.labels(data.get("group") or self.first_group, data["to"],
                              "applied" if data["ok"] else "failed").inc()
        elif kind == "notify":
            self.posted.labels(data.get("group") or NO_GROUP, data["severity"]).inc()
        elif kind == "cycle":
            self.decision.observe(float(data["seconds"]))


# Every family _StatusCollector can yield, some only at times (the lease's term once read, the calls
# once counted, the vantages with a quorum): the registry learns their names from `describe`, so that
# `/metrics?name[]=...` finds them (tests/test_metrics_port.py checks this list against a scrape).
STATUS_FAMILIES = (
    ("trunkguard_carrier_usable_trunks", "gauge"), ("trunkguard_carrier_trunks", "gauge"),
    ("trunkguard_readiness_gate", "gauge"), ("trunkguard_store_ok", "gauge"), ("trunkguard_sip_messages", "counter"),
    ("trunkguard_active_carrier", "gauge"), ("trunkguard_pair_state", "gauge"), ("trunkguard_swap_in_flight", "gauge"),
    ("trunkguard_leader", "gauge"), ("trunkguard_replica_heard_timestamp_seconds", "gauge"),
    ("trunkguard_lease_term", "gauge"), ("trunkguard_vantage_state", "gauge"),
    ("trunkguard_vantage_heard_timestamp_seconds", "gauge"), ("trunkguard_quorum_primary_down", "gauge"),
    ("trunkguard_cert_expiry_timestamp_seconds", "gauge"), ("trunkguard_trunk_maintenance", "gauge"),
    ("trunkguard_observe_mode", "gauge"), ("trunkguard_active_calls", "gauge"),
    ("trunkguard_notifications", "counter"), ("trunkguard_notification_failures", "counter"),
    ("trunkguard_notifications_dropped", "counter"), ("trunkguard_group_carrier", "gauge"),
)


class _StatusCollector(Collector):
    def __init__(self, runtime: Runtime, metrics: Metrics) -> None:
        self.runtime = runtime
        self.metrics = metrics

    def describe(self) -> Iterator[Metric]:
        for name, kind in STATUS_FAMILIES:
            yield Metric(name, "", kind)

    def collect(self) -> Iterator[Metric]:
        e = self.runtime.status()
        groups = e.group_views()
        yield from _carriers(e, groups)
        yield from _groups(e, groups)
        yield GaugeMetricFamily("trunkguard_leader", "1 while this replica holds the lease.",
                                value=1.0 if e.leader else 0.0)
        yield from _replicas(e)
        expiry = GaugeMetricFamily("trunkguard_cert_expiry_timestamp_seconds",
                                   "When the trunk's TLS certificate expires (Unix time), from the last cert check.",
                                   labels=["trunk"])
        # each trunk once, whichever groups check its carrier's certificates
        for trunk, at in dict(x for g in groups for x in g.readiness.cert_expiry).items():
            expiry.add_metric([trunk], at)
        yield expiry
        calls = GaugeMetricFamily("trunkguard_active_calls", "Live calls each group's platform reports (its "
                                  "breaker's input); absent while unknown.", labels=["group"])
        for g in groups:
            if g.calls is not None:
                calls.add_metric([g.name], float(g.calls))
        yield calls
        sent = CounterMetricFamily("trunkguard_notifications", "Notifications delivered, by destination.",
                                   labels=["destination"])
        failed = CounterMetricFamily("trunkguard_notification_failures", "Notifications given up on, by destination.",
                                     labels=["destination"])
        counts: dict[str, Any] = dict(e.facts.notifications)
        # Every configured destination from the start, at 0 (the dispatcher lists them); two of one kind share
        # a name and their counts, so each name is one series.
        for name in dict.fromkeys(counts.get("destinations", ())):
            sent.add_metric([name], float(counts["sent"].get(name, 0)))
            failed.add_metric([name], float(counts["failed"].get(name, 0)))
        yield sent
        yield failed
        yield CounterMetricFamily("trunkguard_notifications_dropped", "Notifications dropped from a full queue.",
                                  value=float(counts.get("dropped", 0)))


def _groups(e: StatusView, groups: tuple[GroupView, ...]) -> Iterator[Metric]:
    """Each routing group's own series, labelled `group`: its chain, where its calls go, its pair, its
    swap in flight, its trunks in maintenance, its mode."""
    chains = GaugeMetricFamily("trunkguard_group_carrier", "1 for each carrier in each routing group's chain, "
                               "rank 0 first: joins the per-trunk series (by carrier) to their groups.",
                               labels=["group", "carrier", "rank"])
    active = GaugeMetricFamily("trunkguard_active_carrier", "1 for the carrier the group's inbound routing points "
                               "at.", labels=["group", "carrier", "trunk_group"])
    pair = GaugeMetricFamily("trunkguard_pair_state", "1 for the group's current state.", labels=["group", "state"])
    flight = GaugeMetricFamily("trunkguard_swap_in_flight", "1 while a swap of the group's routing is being "
                               "carried out.", labels=["group"])
    maintained = GaugeMetricFamily("trunkguard_trunk_maintenance", "1 while the trunk is in maintenance (out of "
                                   "the group's decisions).", labels=["group", "trunk"])
    observe = GaugeMetricFamily("trunkguard_observe_mode", "1 when the group's policy.mode is observe: decisions "
                                "are made and said, nothing is written to the platform.", labels=["group"])
    for g in groups:
        for rank, carrier in enumerate(g.chain):
            chains.add_metric([g.name, carrier, str(rank)], 1.0)
        shown = g.chain if g.pair.active in g.chain else (*g.chain, g.pair.active)
        for carrier in shown:
            active.add_metric([g.name, carrier, e.groups.get(carrier, "")], 1.0 if g.pair.active == carrier else 0.0)
        for p in PairState:
            pair.add_metric([g.name, p.value], 1.0 if g.pair.state is p else 0.0)
        flight.add_metric([g.name], 1.0 if g.pair.in_flight else 0.0)
        for m in g.pair.maintenance:
            maintained.add_metric([g.name, str(m.trunk)], 1.0)
        observe.add_metric([g.name], 1.0 if g.policy.observe else 0.0)
    yield from (chains, active, pair, flight, maintained, observe)


def _carriers(e: StatusView, groups: tuple[GroupView, ...]) -> Iterator[Metric]:
    """What the alert rules need: usable trunks per carrier (under each group whose chain has it), each
    group's readiness gates, the store, the SIP layer."""
    usable = GaugeMetricFamily("trunkguard_carrier_usable_trunks", "Trunks of the carrier that can carry calls "
                               "(SIP answering, media not failed), as this replica sees them; one series for each "
                               "group whose chain has the carrier.", labels=["group", "carrier"])
    total = GaugeMetricFamily("trunkguard_carrier_trunks", "Trunks configured for the carrier; one series for each "
                              "group whose chain has the carrier.", labels=["group", "carrier"])
    for g in groups:
        for role in g.chain:
            c = e.carrier(role)  # counted once per change of the trunks, when the view is published
            if c is not None:
                usable.add_metric([g.name, role], float(c.usable))
                total.add_metric([g.name, role], float(c.trunks))
    yield usable
    yield total
    gates = GaugeMetricFamily("trunkguard_readiness_gate", "1 for each readiness gate's state of the carrier after "
                              "the group's first: ok, failed, or unknown (never checked, or too old to count).",
                              labels=["group", "gate", "state"])
    for g in groups:
        r = g.readiness
        for gate, value in (("sweep", r.sweep_ok), ("certs", r.certs_ok), ("parity", r.parity_ok)):
            if gate not in g.policy.gates:  # off, or not configured: no state to alert on
                continue
            seen = "unknown" if value is None else "ok" if value else "failed"
            for state in ("ok", "failed", "unknown"):
                gates.add_metric([g.name, gate, state], 1.0 if seen == state else 0.0)
    yield gates
    yield GaugeMetricFamily("trunkguard_store_ok", "1 while the store answers (0: nobody can act; paging goes on).",
                            value=1.0 if e.store_ok else 0.0)
    sip = CounterMetricFamily("trunkguard_sip_messages", "SIP messages the probes' client handled, by what became "
                              "of them: sent, retransmitted, received, matched; dropped as duplicate, stray or "
                              "malformed; requests ignored; transport errors.", labels=["outcome"])
    for outcome, count in e.samples.sip.items():
        sip.add_metric([outcome], float(count))
    yield sip


def _replicas(e: StatusView) -> Iterator[GaugeMetricFamily]:
    """Every replica and agent the store has heard of, who holds the lease, and each vantage's count."""
    roll = e.facts.roll
    heard = GaugeMetricFamily("trunkguard_replica_heard_timestamp_seconds", "When the store last heard of each "
                              "replica and vantage agent (its heartbeat; Unix time on this replica's clock, moved "
                              "from the store's by its age there), by name: no per-process id and no leader label, "
                              "so series do not churn across restarts and takeovers (trunkguard_leader says who "
                              "leads).", labels=["name", "kind"])
    newest: dict[tuple[str, str], float] = {}
    read_at = roll.at or 0.0  # members come only from a round, which sets `at`
    for m in roll.members:  # a restarted process under the same name is one series: its newest heartbeat
        key = (m.name, m.kind)
        newest[key] = max(read_at - m.age, newest.get(key, read_at - m.age))
    for (name, kind), at in newest.items():
        heard.add_metric([name, kind], at)
    yield heard
    if roll.term is not None:
        yield GaugeMetricFamily("trunkguard_lease_term", "The lease's term (grows by one at each change of leader).",
                                value=float(roll.term))
    quorum = e.vantages
    if quorum is None:
        return
    counted = GaugeMetricFamily("trunkguard_vantage_state", "1 for how each configured vantage counts for the "
                                "primary: up, down, or isolated (reaches nothing, or not heard from).",
                                labels=["vantage", "state"])
    heard = GaugeMetricFamily("trunkguard_vantage_heard_timestamp_seconds", "When each vantage's view was last "
                              "heard (Unix time).", labels=["vantage"])
    for v in quorum["vantages"]:
        for state in ("up", "down", "isolated"):
            counted.add_metric([v["name"], state], 1.0 if v["state"] == state else 0.0)
        if v["age_s"] is not None:
            heard.add_metric([v["name"]], e.at - float(v["age_s"]))
    yield counted
    yield heard
    yield GaugeMetricFamily("trunkguard_quorum_primary_down", "1 while a quorum of vantages sees the primary down.",
                            value=1.0 if quorum["primary_down"] else 0.0)
