"""Every target of a name (RFC 3263): each resolved address is probed and has its own health; the
trunk is usable while any target answers (or, with `targets: all`, only while every one does)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Sipp, eventually
from tests.dnszone import serving_zone
from trunkguard.app import Service
from trunkguard.asgi import serving
from trunkguard.config import parse_config
from trunkguard.core.events import TargetSeen
from trunkguard.core.health import HealthRules, TrunkHealth, TrunkState, targets_result
from trunkguard.core.machine import ProbeDone, Record, initial, step
from trunkguard.lab.lab import free_tcp_port
from trunkguard.probing.sip_options import OptionsCheck, probe_options
from trunkguard.rules import machine_rules
from trunkguard.sip.client import SipClient
from trunkguard.sip.uri import parse_uri
from trunkguard.store.codec import event_from_json, event_to_json
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule

RULES = HealthRules(down_after=3)
A, B = "udp:10.0.0.1:5060", "udp:10.0.0.2:5060"


def _seen(a: bool, b: bool) -> tuple[TargetSeen, ...]:
    return (TargetSeen(A, a, "ok 200 OK" if a else "timeout"), TargetSeen(B, b, "ok 200 OK" if b else "timeout"))


def test_one_dead_target_of_two_is_named_down_and_the_trunk_still_answers() -> None:
    h, said_all = TrunkHealth("p1", "primary"), []
    for seq in range(1, 4):
        h, ok, said = targets_result(h, seq, _seen(True, False), float(seq), RULES)
        assert ok  # any target answered: the trunk's probe succeeded
        said_all += said
    states = {t.target: t.state for t in h.targets}
    assert states == {A: TrunkState.UP, B: TrunkState.DOWN}
    assert [c.sentence for c in said_all] == [
        f"trunk p1: target {B} is down: 3 probes in a row failed (timeout); 1 of 2 targets answer"]
    assert [(c.target, c.down) for c in said_all] == [(B, True)]
    h, ok, said = targets_result(h, 4, _seen(True, True), 4.0, RULES)
    assert ok and [c.sentence for c in said] == [f"trunk p1: target {B} answers again"]
    assert all(t.state is TrunkState.UP for t in h.targets)


def test_a_target_short_of_down_after_failures_is_suspect_not_down() -> None:
    h, _, _ = targets_result(TrunkHealth("p1", "primary"), 1, _seen(True, False), 1.0, RULES)
    h, _, said = targets_result(h, 2, _seen(True, False), 2.0, RULES)
    assert {t.target: t.state for t in h.targets}[B] is TrunkState.SUSPECT and said == []


def test_with_all_every_target_must_answer() -> None:
    _, ok, _ = targets_result(TrunkHealth("p1", "primary"), 1, _seen(True, False), 1.0,
                              HealthRules(targets_all=True))
    assert not ok
    _, ok, _ = targets_result(TrunkHealth("p1", "primary"), 1, _seen(True, True), 1.0, HealthRules(targets_all=True))
    assert ok


def test_an_older_probe_changes_no_target_and_a_target_no_longer_resolved_is_dropped() -> None:
    h, _, _ = targets_result(TrunkHealth("p1", "primary"), 5, _seen(True, True), 1.0, RULES)
    late, _, _ = targets_result(h, 4, _seen(False, False), 2.0, RULES)
    assert late.targets == h.targets
    fewer, ok, _ = targets_result(h, 6, (TargetSeen(A, True),), 3.0, RULES)
    assert ok and [t.target for t in fewer.targets] == [A]


def _machine(rule: str = "any"):  # type: ignore[no-untyped-def]
    cfg = parse_config(f"""carriers:
  primary:
    trunk_group_id: tg-primary
    health: {{down_after: 3, targets: {rule}}}
    trunks: [{{name: p1, uri: "sip:carrier-a.test;transport=udp"}}]
  secondary:
    trunk_group_id: tg-secondary
    trunks: [{{name: s1, uri: "sip:127.0.0.1:5072"}}]
""")
    rules = machine_rules(cfg)
    return rules, initial(rules, 0.0, leader=True)


def test_the_machine_keeps_the_trunk_up_on_one_dead_target_and_records_the_target_sentence() -> None:
    rules, state = _machine()
    records: list[str] = []
    for seq in range(1, 4):
        s = step(state, ProbeDone("p1", seq, True, 200, "ok", 1.0, _seen(True, False)), float(seq), rules)
        state = s.state
        records += [e.sentence for e in s.effects if isinstance(e, Record)]
    p1 = state.trunks[rules.index["p1"]]
    assert p1.state is TrunkState.UP and p1.usable
    assert records == [f"trunk p1: target {B} is down: 3 probes in a row failed (timeout); 1 of 2 targets answer"]


def test_the_rule_is_the_machines_so_a_replay_under_all_judges_the_same_probes_failed() -> None:
    rules, state = _machine("all")
    # The probe runner said ok (any target answered); under `all` the machine judges it failed.
    state = step(state, ProbeDone("p1", 1, True, 200, "ok", 1.0, _seen(True, False)), 1.0, rules).state
    assert state.trunks[rules.index["p1"]].state is TrunkState.SUSPECT


def test_a_probe_with_targets_survives_the_trace() -> None:
    event = ProbeDone("p1", 7, True, 200, "ok 200 OK", 0.4, _seen(True, False))
    kind, data = event_to_json(event)
    assert event_from_json(kind, data) == event
    plain = ProbeDone("p1", 8, False)
    assert "targets" not in event_to_json(plain)[1] and event_from_json(*event_to_json(plain)) == plain


# ---- against SIPp, named through a DNS server on loopback ---------------------------------------------


def _zone(a: Sipp, b: Sipp) -> dict[tuple[str, str], list[str]]:
    return {("_sip._udp.carrier-a.test.", "SRV"): [f"10 0 {a.port} sbc1.carrier-a.test.",
                                                   f"20 0 {b.port} sbc2.carrier-a.test."],
            ("sbc1.carrier-a.test.", "A"): ["127.0.0.1"], ("sbc2.carrier-a.test.", "A"): ["127.0.0.1"]}


@pytest.mark.sipp
async def test_the_probe_asks_every_target_and_answers_as_soon_as_the_rule_is_met(
        sipp_uas: Callable[..., Sipp]) -> None:
    a, b = sipp_uas(), sipp_uas()
    async with serving_zone(_zone(a, b)) as dns_server, SipClient() as client:
        uri = parse_uri("sip:carrier-a.test;transport=udp")
        both = await probe_options(client, OptionsCheck("p1", uri, timeout=1.0), resolver=dns_server.resolver())
        assert both.success and [t.target for t in both.targets] == [f"udp:127.0.0.1:{a.port}",
                                                                      f"udp:127.0.0.1:{b.port}"]
        b.stop()
        loop = asyncio.get_running_loop()
        alive_at: list[float] = []
        started = loop.time()
        one = await probe_options(client, OptionsCheck("p1", uri, timeout=1.0), resolver=dns_server.resolver(),
                                  on_alive=lambda: alive_at.append(loop.time() - started))
        assert one.success and "1 of 2 targets answer" in one.summary()
        assert [t.status.value for t in one.targets] == ["ok", "timeout"]
        assert alive_at and alive_at[0] < 0.5 <= loop.time() - started  # answered long before the dead one
        strict = await probe_options(client, OptionsCheck("p1", uri, timeout=1.0, targets="all"),
                                     resolver=dns_server.resolver())
        assert not strict.success and strict.status.value == "timeout"


@pytest.mark.sipp
async def test_a_dead_srv_target_is_named_and_the_trunk_goes_down_only_with_both(
        sipp_uas: Callable[..., Sipp], tmp_path: Path) -> None:
    """The primary's one trunk is a name with two SRV targets (two SIPp peers). One dies: the trunk
    stays usable, the dead target is DOWN in status, /metrics and history, nothing moves. The other
    dies: the trunk goes down and routing moves to the secondary, once."""
    a, b, s = sipp_uas(), sipp_uas(), sipp_uas()
    state = EmulatorState(client_id="tg", client_secret="s", rules={"r": default_rule("r", "tg-primary")},
                          calls={"q": 0})
    port, api = free_tcp_port(), free_tcp_port()
    async with serving_zone(_zone(a, b)) as dns_server, serving(create_app(state), "127.0.0.1", port):
        text = f"""carriers:
  primary:
    trunk_group_id: tg-primary
    health: {{interval: 1s, timeout: 800ms, confirm_interval: 100ms, down_after: 2, confirm_burst: 3}}
    trunks: [{{name: p1, uri: "sip:carrier-a.test;transport=udp"}}]
  secondary:
    trunk_group_id: tg-secondary
    trunks: [{{name: s1, uri: "{s.uri}"}}]
dns: {{nameservers: ["127.0.0.1:{dns_server.port}"]}}
policy: {{readiness: {{sweep: false, certs: false, parity: false}}, poll_interval: 500ms}}
platform: {{kind: emulator, base_url: "http://127.0.0.1:{port}", rule_id: r, queue_id: q,
           client_id_env: ID, client_secret_env: SECRET}}
storage: {{url: "sqlite:///{tmp_path}/tg.db"}}
api: {{listen: "127.0.0.1:{api}", token_env: TOKEN}}
"""
        service = Service.build(parse_config(text), {"ID": "tg", "SECRET": "s", "TOKEN": "t"})
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        dead = f"udp:127.0.0.1:{b.port}"
        try:
            await eventually(lambda: len(service.status().health["p1"].targets) == 2, "both targets probed")
            b.stop()
            states: list[str] = []

            def target_down() -> bool:
                p1 = service.status().health["p1"]
                states.append(p1.state.value)
                return {t.target: t.state.value for t in p1.targets}.get(dead) == "down"

            await eventually(target_down, "the dead target named down",
                             detail=lambda: repr(service.status().health["p1"].targets))
            await asyncio.sleep(2.5)  # more rounds: the dead target's 800 ms timeouts raise no suspicion
            p1 = service.status().health["p1"]
            assert p1.state is TrunkState.UP and p1.usable and set(states) == {"up"}
            assert state.writes_applied == 0
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"http://127.0.0.1:{api}/metrics")).text
                view = (await http.get(f"http://127.0.0.1:{api}/api/v1/status")).json()
                history = (await http.get(f"http://127.0.0.1:{api}/api/v1/history")).json()
            assert (f'trunkguard_target_state{{carrier="primary",state="down",target="{dead}",trunk="p1"}} 1.0'
                    in metrics)
            shown = view["carriers"]["primary"]["trunks"][0]["targets"]
            assert [(t["target"], t["state"]) for t in shown] == [(f"udp:127.0.0.1:{a.port}", "up"), (dead, "down")]
            assert any(f"target {dead} is down" in d["sentence"] for d in history["decisions"])
            a.stop()
            await eventually(lambda: service.status().pair.active == "secondary",
                             "the swap once both targets are dead", detail=lambda: service.status().last_sentence)
            assert service.status().health["p1"].state is TrunkState.DOWN and state.writes_applied == 1
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
