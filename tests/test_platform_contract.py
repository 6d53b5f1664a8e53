"""The platform contract every adapter must pass, each against its emulator on a real HTTP socket:
generic (the guide's contract), genesys (real Genesys Cloud paths and shapes) and cxone. Swaps go
through the one swap protocol (`actuation/swap.py`), as the daemon's do."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.conftest import free_port
from trunkguard.actuation.base import AuthError, Platform, RoutingState
from trunkguard.actuation.cxone import CxonePlatform
from trunkguard.actuation.generic import GenericPlatform
from trunkguard.actuation.genesys import GenesysPlatform
from trunkguard.actuation.http import PlatformHttp
from trunkguard.actuation.swap import Book, SwapOutcome, SwapRules, carry_out
from trunkguard.asgi import serving
from trunkguard.testing.cxone_emulator import CxoneState, create_cxone_app, tenant
from trunkguard.testing.emulator import EmulatorState, create_app, default_rule
from trunkguard.testing.genesys_emulator import GenesysState, byoc_org, create_genesys_app

RULE, QUEUE = "rule-inbound-1", "primary_inbound_queue_id"


@dataclass(frozen=True)
class Peer:
    """One adapter and its emulator, described so the shared tests can drive any of them."""

    name: str
    home: str                                # where routing points at first
    away: str                                # the other carrier
    writes_per_swap: int                     # objects one swap writes (genesys: a composite)
    versioned: bool
    make_state: Callable[[], EmulatorState]
    make_app: Callable[[Any], Starlette]
    make_adapter: Callable[..., Platform]
    routed_to: Callable[[Any], str]
    set_calls: Callable[[Any, int], None]
    someone_edits: Callable[[Any], None]


def _generic(url: str, *, secret: str = "lab-secret", deadline: float = 5.0) -> Platform:
    http = PlatformHttp(url, client_id="trunkguard", client_secret=secret, deadline=deadline)
    return GenericPlatform(http, rule_id=RULE, queue_id=QUEUE, fallback_queue_id="overflow_queue_id")


def _genesys(url: str, *, secret: str = "lab-secret", deadline: float = 5.0) -> Platform:
    http = PlatformHttp(url, client_id="trunkguard", client_secret=secret, deadline=deadline)
    return GenesysPlatform(http, primary_trunk_base="tb-carrier-a", secondary_trunk_base="tb-carrier-b",
                           datatable_id="dt-carrier", manage_trunk_enabled=True)


def _cxone(url: str, *, secret: str = "lab-secret", deadline: float = 5.0) -> Platform:
    http = PlatformHttp(url, client_id="trunkguard", client_secret=secret, deadline=deadline,
                        token_url="/auth/token", token_form={"grant_type": "password", "username": "AKID",
                                                             "password": "aks"})
    return CxonePlatform(http, point_of_contact_id="poc-1")


def _genesys_calls(state: GenesysState, n: int) -> None:
    state.trunk_calls["trunk-tb-carrier-a"] = (n - 1, 1)  # inbound + outbound on the primary's trunk
    state.trunk_calls["trunk-tb-carrier-b"] = (7, 0)      # calls on the secondary do not count


PEERS = {
    "generic": Peer("generic", "tg-primary", "tg-secondary", 1, True,
                    lambda: EmulatorState(rules={RULE: default_rule(RULE, "tg-primary")}), create_app, _generic,
                    lambda s: s.rules[RULE]["action"]["trunkGroupId"],
                    lambda s, n: s.calls.update({QUEUE: n}),
                    lambda s: s.rules[RULE].update(version=s.rules[RULE]["version"] + 6)),
    "genesys": Peer("genesys", "tb-carrier-a", "tb-carrier-b", 3, True, byoc_org, create_genesys_app, _genesys,
                    lambda s: s.first_trunk_base("route-1"), _genesys_calls,
                    lambda s: s.routes["route-1"].update(version=s.routes["route-1"]["version"] + 6)),
    "cxone": Peer("cxone", "1001", "1002", 1, False, tenant, create_cxone_app, _cxone,
                  lambda s: str(s.points_of_contact["poc-1"]["skillId"]),
                  lambda s, n: s.active.__init__([{"contactId": i, "mediaTypeId": 4} for i in range(n)]),
                  lambda s: None),
}


@dataclass
class Emulator:
    peer: Peer
    state: Any
    url: str

    def adapter(self, **kw: Any) -> Platform:
        return self.peer.make_adapter(self.url, **kw)

    def writes(self) -> int:
        return int(self.state.writes_applied)

    async def fault(self, **fault: Any) -> None:
        async with httpx.AsyncClient() as client:
            (await client.post(f"{self.url}/_emulator/faults", json=fault)).raise_for_status()


async def _serve(peer: Peer) -> AsyncIterator[Emulator]:
    state = peer.make_state()
    peer.set_calls(state, 3)
    port = free_port(socket.SOCK_STREAM)
    async with serving(peer.make_app(state), "127.0.0.1", port):
        yield Emulator(peer, state, f"http://127.0.0.1:{port}")


@pytest.fixture(params=sorted(PEERS))
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    async for e in _serve(PEERS[request.param]):
        yield e


@pytest.fixture(params=sorted(n for n, p in PEERS.items() if p.versioned))
async def versioned(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    async for e in _serve(PEERS[request.param]):
        yield e


@pytest.fixture
async def genesys() -> AsyncIterator[Emulator]:
    async for e in _serve(PEERS["genesys"]):
        yield e


# ---- the shared contract -----------------------------------------------------------------------

FAST = SwapRules(deadline=20.0, readback=10.0, settle=3.0)


async def swap(platform: Platform, target: str, key: str, rules: SwapRules = FAST, *,
               restore: RoutingState | None = None, book: Book | None = None) -> SwapOutcome:
    return await carry_out(platform, target, key, rules, restore=restore, book=book)


async def test_reads_the_routing_and_the_live_calls(emulator: Emulator) -> None:
    platform = emulator.adapter()
    assert (await platform.read_routing()).trunk_group_id == emulator.peer.home
    assert await platform.active_calls() == 3
    await platform.close()


async def test_a_swap_is_applied_once_and_read_back(emulator: Emulator) -> None:
    platform, away = emulator.adapter(), emulator.peer.away
    outcome = await swap(platform, away, "swap-1-to-secondary")
    assert outcome.ok and outcome.after is not None and outcome.after.trunk_group_id == away, outcome.detail
    assert emulator.peer.routed_to(emulator.state) == away
    assert emulator.writes() == emulator.peer.writes_per_swap == outcome.writes
    again = await swap(platform, away, "swap-1-to-secondary")
    assert again.ok and again.writes == 0 and emulator.writes() == emulator.peer.writes_per_swap  # nothing rewritten
    assert "nothing to change" in again.detail or "already so" in again.detail
    await platform.close()


async def test_a_swap_back_restores_the_first_carrier(emulator: Emulator) -> None:
    platform, peer = emulator.adapter(), emulator.peer
    assert (await swap(platform, peer.away, "k1")).ok
    back = await swap(platform, peer.home, "k2")
    assert back.ok and peer.home == peer.routed_to(emulator.state)
    assert (await platform.read_routing()).trunk_group_id == peer.home
    await platform.close()


async def test_503s_are_retried_within_the_deadline(emulator: Emulator) -> None:
    platform = emulator.adapter()
    await emulator.fault(status=503, times=2)
    outcome = await swap(platform, emulator.peer.away, "k2")
    assert outcome.ok and emulator.peer.routed_to(emulator.state) == emulator.peer.away
    assert emulator.writes() == emulator.peer.writes_per_swap
    await platform.close()


async def test_429_retry_after_is_honoured(emulator: Emulator) -> None:
    platform = emulator.adapter()
    await platform.read_routing()
    await emulator.fault(status=429, retry_after=1)
    started = time.monotonic()
    assert await platform.active_calls() == 3
    assert time.monotonic() - started >= 1.0
    await platform.close()


async def test_an_expired_token_is_renewed_on_401(emulator: Emulator) -> None:
    platform = emulator.adapter()
    await platform.read_routing()
    emulator.state.tokens.clear()
    assert (await platform.read_routing()).trunk_group_id == emulator.peer.home
    await platform.close()


async def test_wrong_credentials_are_an_auth_error(emulator: Emulator) -> None:
    platform = emulator.adapter(secret="wrong")
    with pytest.raises(AuthError, match="token request refused: HTTP 401"):
        await platform.read_routing()
    outcome = await swap(platform, emulator.peer.away, "k")
    assert not outcome.ok and "token request refused" in outcome.detail and emulator.writes() == 0
    await platform.close()


async def test_past_the_deadline_nothing_is_applied(emulator: Emulator) -> None:
    platform = emulator.adapter(deadline=1.0)
    await platform.read_routing()
    await emulator.fault(status=503, times=1000)
    started = time.monotonic()
    outcome = await swap(platform, emulator.peer.away, "k3", SwapRules(deadline=2.0, readback=1.0, settle=0.5))
    assert not outcome.ok and "deadline" in outcome.detail
    assert time.monotonic() - started < 4.0
    assert emulator.peer.routed_to(emulator.state) == emulator.peer.home
    assert emulator.writes() == 0
    await platform.close()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_30_percent_faults_still_give_exactly_one_applied_swap(emulator: Emulator, seed: int) -> None:
    platform = emulator.adapter(deadline=15.0)
    await emulator.fault(random_status=503, probability=0.3, seed=seed)
    outcome = await swap(platform, emulator.peer.away, f"swap-{seed}", SwapRules(deadline=40.0))
    assert outcome.ok, outcome.detail
    assert emulator.peer.routed_to(emulator.state) == emulator.peer.away
    assert emulator.writes() == emulator.peer.writes_per_swap
    await platform.close()


async def test_a_version_conflict_is_re_read_and_re_applied(versioned: Emulator) -> None:
    platform = versioned.adapter()
    before = await platform.read_routing()
    await versioned.fault(conflict=True, method="PUT")  # someone edits it between our read and our write
    outcome = await swap(platform, versioned.peer.away, "k1")
    assert outcome.ok and versioned.peer.routed_to(versioned.state) == versioned.peer.away, outcome.detail
    assert outcome.after is not None and outcome.after.version >= before.version + 2
    assert versioned.writes() == versioned.peer.writes_per_swap
    await platform.close()


@pytest.mark.slow
@pytest.mark.parametrize("lag", [5.0])
async def test_lagging_reads_and_conflicts_give_one_write_per_object_and_no_undo(emulator: Emulator,
                                                                                 lag: float) -> None:
    """Eventual consistency: every read shows the platform as it was `lag` seconds ago, and an
    administrator's edit lands between our read and our first write of each swap. Activation and an
    immediate failback each write every object once, undo nothing, and end exactly as intended."""
    peer, state = emulator.peer, emulator.state
    await emulator.fault(read_lag=lag)
    platform, book = emulator.adapter(), Book(10.0)
    rules = SwapRules(deadline=60.0, readback=10.0, settle=3.0)
    prior = await platform.read_routing()
    for target, key in ((peer.away, "lag-1-to-secondary"), (peer.home, "lag-2-to-primary")):
        before = emulator.writes()
        await emulator.fault(conflict=True, method="PUT")
        outcome = await swap(platform, target, key, rules, restore=prior if target == peer.home else None, book=book)
        assert outcome.ok, outcome.detail
        assert outcome.undo_writes == 0 and outcome.writes == peer.writes_per_swap
        assert emulator.writes() - before == peer.writes_per_swap
        assert peer.routed_to(state) == target
    assert state.faults == []  # both conflicts were met
    if isinstance(state, GenesysState):
        assert state.writes == ["outboundroute", "datatable row", "trunkbasesettings",
                                "trunkbasesettings", "outboundroute", "datatable row"]
        assert state.order("route-1") == ["tb-carrier-a", "tb-carrier-b"]
        assert state.rows[("dt-carrier", "active")]["activeCarrier"] == "primary"
        assert state.trunk_bases["tb-carrier-a"]["properties"]["trunk_enabled"]["value"]["instance"] is True
        assert state.foreign_fields == []
    elif peer.name == "generic":
        assert state.applied_keys == ["lag-1-to-secondary", "lag-2-to-primary"]
    await platform.close()


async def test_a_refused_write_fails_the_swap_without_retrying(emulator: Emulator) -> None:
    platform = emulator.adapter()
    await emulator.fault(status=400, method="PUT")
    outcome = await swap(platform, emulator.peer.away, "k")
    assert not outcome.ok and "HTTP 400" in outcome.detail and emulator.writes() == 0
    assert emulator.peer.routed_to(emulator.state) == emulator.peer.home
    await platform.close()


async def test_a_lost_answer_is_settled_by_reading_and_retried_with_the_same_key(emulator: Emulator) -> None:
    """The write lands but its answer never comes back in time: the swap reads until it shows and
    succeeds, with one write on the platform and no second key."""
    platform = emulator.adapter(deadline=1.0)
    await emulator.fault(hold_after_write=2.0, method="PUT")
    outcome = await swap(platform, emulator.peer.away, "lost-1", SwapRules(deadline=20.0, readback=5.0, settle=5.0))
    assert outcome.ok, outcome.detail
    assert emulator.writes() == emulator.peer.writes_per_swap
    if emulator.peer.name == "generic":
        assert emulator.state.applied_keys == ["lost-1"]
    await platform.close()


# ---- Genesys Cloud specifics ---------------------------------------------------------------------


async def test_genesys_swap_moves_every_object_and_failback_restores_them(genesys: Emulator) -> None:
    state: GenesysState = genesys.state
    platform = genesys.adapter()
    assert (await swap(platform, "tb-carrier-b", "k")).ok
    route = state.routes["route-1"]
    assert [b["id"] for b in route["externalTrunkBases"]] == ["tb-carrier-b", "tb-carrier-a"]
    assert route["name"] == "Default Outbound Route" and route["distribution"] == "SEQUENTIAL"  # full object kept
    assert state.rows[("dt-carrier", "active")] == {"key": "active", "activeCarrier": "secondary",
                                                    "trunkBaseId": "tb-carrier-b"}
    assert state.trunk_bases["tb-carrier-a"]["properties"]["trunk_enabled"]["value"]["instance"] is False
    assert state.trunks["trunk-tb-carrier-a"]["inService"] is False
    assert state.writes == ["outboundroute", "datatable row", "trunkbasesettings"]
    assert (await swap(platform, "tb-carrier-a", "k2")).ok
    assert [b["id"] for b in route["externalTrunkBases"]] == ["tb-carrier-a", "tb-carrier-b"]
    assert state.trunk_bases["tb-carrier-a"]["properties"]["trunk_enabled"]["value"]["instance"] is True
    assert state.rows[("dt-carrier", "active")]["activeCarrier"] == "primary"
    # failback: the primary back in service first, then routes, then the row
    assert state.writes[3:] == ["trunkbasesettings", "outboundroute", "datatable row"]
    assert state.foreign_fields == []  # the route PUT is an OutboundRouteBase: no site, no managed
    await platform.close()


async def test_genesys_three_routes_on_two_sites_move_once_and_get_their_recorded_order_back(genesys: Emulator) -> None:
    state: GenesysState = genesys.state
    state.add_route("route-intl", "site-2", ["tb-carrier-a", "tb-other", "tb-carrier-b"], name="International")
    state.add_route("route-911", "site-2", ["tb-emergency", "tb-carrier-a"], name="Emergency")
    state.add_route("route-unrelated", "site-2", ["tb-other"], name="Someone else's")
    platform = genesys.adapter()
    prior = await platform.read_routing()
    assert sorted(prior.raw["outboundRoutes"]) == ["route-1", "route-911", "route-intl"]
    outcome = await swap(platform, "tb-carrier-b", "k1")
    assert outcome.ok, outcome.detail
    assert state.order("route-1") == ["tb-carrier-b", "tb-carrier-a"]
    assert state.order("route-intl") == ["tb-carrier-b", "tb-carrier-a", "tb-other"]
    assert state.order("route-911") == ["tb-emergency", "tb-carrier-b", "tb-carrier-a"]  # its own trunk stays first
    assert state.order("route-unrelated") == ["tb-other"]
    assert state.writes.count("outboundroute") == 3
    back = await swap(platform, "tb-carrier-a", "k2", restore=prior)
    assert back.ok, back.detail
    assert state.order("route-1") == ["tb-carrier-a", "tb-carrier-b"]
    assert state.order("route-intl") == ["tb-carrier-a", "tb-other", "tb-carrier-b"]   # as recorded
    assert state.order("route-911") == ["tb-emergency", "tb-carrier-a"]                 # as recorded
    assert state.writes.count("outboundroute") == 6 and state.routes["route-911"]["version"] == 3
    await platform.close()


async def test_genesys_routes_can_be_limited_to_sites_and_routes(genesys: Emulator) -> None:
    state: GenesysState = genesys.state
    state.add_route("route-intl", "site-2", ["tb-carrier-a", "tb-carrier-b"])
    http = PlatformHttp(genesys.url, client_id="trunkguard", client_secret="lab-secret")
    platform = GenesysPlatform(http, primary_trunk_base="tb-carrier-a", secondary_trunk_base="tb-carrier-b",
                               sites=("site-2",))
    assert (await swap(platform, "tb-carrier-b", "k")).ok
    assert state.order("route-intl")[0] == "tb-carrier-b" and state.order("route-1")[0] == "tb-carrier-a"
    none = GenesysPlatform(http, primary_trunk_base="tb-carrier-a", secondary_trunk_base="tb-carrier-b",
                           outbound_routes=("no-such-route",))
    failed = await swap(none, "tb-carrier-b", "k2")
    assert not failed.ok and "no outbound route uses trunk base" in failed.detail
    await platform.close()


async def test_genesys_400_naming_the_version_is_a_conflict_too(genesys: Emulator) -> None:
    genesys.state.conflict_status = 400
    platform = genesys.adapter()
    await genesys.fault(conflict=True, method="PUT")
    assert (await swap(platform, "tb-carrier-b", "k")).ok
    await platform.close()


async def test_genesys_a_refused_later_step_puts_the_earlier_ones_back_and_names_them(genesys: Emulator) -> None:
    platform = genesys.adapter(deadline=1.0)
    await genesys.fault(status=400, path="/rows/", method="PUT", times=1)
    outcome = await swap(platform, "tb-carrier-b", "k")
    assert not outcome.ok and outcome.undo_writes == 1 and not outcome.half_switched
    assert "outbound route route-1 put back" in outcome.detail
    assert "data table row dt-carrier/active failed" not in outcome.detail
    assert "trunk base tb-carrier-a not reached" in outcome.detail
    assert genesys.state.first_trunk_base("route-1") == "tb-carrier-a"
    assert (await platform.read_routing()).trunk_group_id == "tb-carrier-a"  # consistent again
    await platform.close()


async def test_genesys_a_step_that_cannot_be_put_back_is_named_as_half_switched(genesys: Emulator) -> None:
    platform = genesys.adapter(deadline=1.0)
    await genesys.fault(status=400, path="/rows/", method="PUT", times=1)
    await genesys.fault(status=403, path="/outboundroutes/", method="PUT", skip=1)  # the undo meets it
    outcome = await swap(platform, "tb-carrier-b", "k")
    assert not outcome.ok and outcome.half_switched
    assert "PARTLY SWITCHED" in outcome.detail and "outbound route route-1 left written" in outcome.detail
    await platform.close()


async def test_genesys_a_half_applied_swap_reads_as_mixed_and_a_retry_completes_it(genesys: Emulator) -> None:
    state: GenesysState = genesys.state
    state.rows[("dt-carrier", "active")] = {"key": "active", "activeCarrier": "secondary",
                                            "trunkBaseId": "tb-carrier-b"}  # a crash left only the row moved
    platform = genesys.adapter()
    assert (await platform.read_routing()).trunk_group_id.startswith("mixed:tb-carrier-a")
    assert (await swap(platform, "tb-carrier-b", "k")).ok
    assert state.writes == ["outboundroute", "trunkbasesettings"]  # the row was already right
    await platform.close()


async def test_genesys_edge_view_reports_each_carriers_options_status(genesys: Emulator) -> None:
    state: GenesysState = genesys.state
    platform = genesys.adapter()
    assert isinstance(platform, GenesysPlatform)
    assert await platform.edge_view() == {"tb-carrier-a": True, "tb-carrier-b": True}
    state.trunks["trunk-tb-carrier-b"]["optionsStatus"][0]["optionState"] = False
    assert await platform.edge_view() == {"tb-carrier-a": True, "tb-carrier-b": False}
    await platform.close()


def test_genesys_login_host_follows_the_region() -> None:
    from trunkguard.regions import GENESYS_REGIONS, genesys_login_url

    assert genesys_login_url(GENESYS_REGIONS["eu_central_1"]) == "https://login.mypurecloud.de/oauth/token"
    assert genesys_login_url(GENESYS_REGIONS["us_west_2"]) == "https://login.usw2.pure.cloud/oauth/token"
    assert genesys_login_url("http://127.0.0.1:8701") == "http://127.0.0.1:8701/oauth/token"


async def test_cxone_counts_phone_contacts_and_an_empty_204_is_zero() -> None:
    async for e in _serve(PEERS["cxone"]):
        state: CxoneState = e.state
        state.active.append({"contactId": 99, "mediaTypeId": 3})  # a chat does not count
        platform = e.adapter()
        assert await platform.active_calls() == 3
        state.active.clear()
        assert await platform.active_calls() == 0
        await platform.close()


async def test_concurrent_first_calls_share_one_token(emulator: Emulator) -> None:
    """At start-up the pollers and the reconcile read all ask at once: one token request, not three."""
    platform = emulator.adapter()
    await asyncio.gather(platform.read_routing(), platform.active_calls(), platform.read_routing())
    assert len(emulator.state.tokens) == 1
    await platform.close()


async def test_a_trunk_base_whose_trunk_enabled_instance_is_null_reads_as_its_default(genesys: Emulator) -> None:
    """Genesys sends `"instance": null` for a property never set on this trunk base: it means the
    default (enabled), not disabled, so the routing is not mistaken for half-switched."""
    genesys.state.trunk_bases["tb-carrier-a"]["properties"]["trunk_enabled"]["value"]["instance"] = None
    platform = genesys.adapter()
    routing = await platform.read_routing()
    assert routing.trunk_group_id == "tb-carrier-a" and routing.raw["primaryTrunkEnabled"] is True
    await platform.close()


async def test_a_writer_that_lost_its_lease_writes_nothing_more_and_undoes_nothing(emulator: Emulator) -> None:
    """A SIGSTOPped leader wakes mid-swap: once `may_write` says no, no write leaves (not the plan's,
    not an undo's); what it wrote stays for the new leader to settle by reading."""
    platform, peer = emulator.adapter(), emulator.peer
    allowed = [1]  # the first write may go; the lease is gone after it

    def may_write() -> bool:
        if allowed:
            allowed.pop()
            return True
        return False

    outcome = await carry_out(platform, peer.away, "k-fenced", FAST, may_write=may_write)
    if peer.writes_per_swap > 1:  # stopped after the first of several objects, none put back
        assert not outcome.ok and "no longer holds the lease" in outcome.detail, outcome.detail
        assert "left to the new leader" in outcome.objects[0].detail
    else:
        assert outcome.ok
    assert emulator.writes() == outcome.writes == 1 and outcome.undo_writes == 0
    never = await carry_out(platform, peer.home, "k-never", FAST, may_write=lambda: False)
    assert not never.ok and never.writes == 0 and emulator.writes() == outcome.writes
    await platform.close()


# ---- chains: three carriers on every adapter ----------------------------------------------------

CHAIN3 = {  # per adapter: the three carriers' ids on the platform, and an adapter that knows all three
    "generic": ("tg-primary", "tg-secondary", "tg-tertiary"),
    "genesys": ("tb-carrier-a", "tb-carrier-b", "tb-carrier-c"),
    "cxone": ("1001", "1002", "1003"),
}


def _chain_adapter(name: str, url: str) -> Platform:
    if name != "genesys":
        return PEERS[name].make_adapter(url)
    http = PlatformHttp(url, client_id="trunkguard", client_secret="lab-secret", deadline=5.0)
    a, b, c = CHAIN3["genesys"]
    return GenesysPlatform(http, primary_trunk_base=a, secondary_trunk_base=b, datatable_id="dt-carrier",
                           manage_trunk_enabled=True, chain=(("a", a), ("b", b), ("c", c)))


@pytest.mark.parametrize("name", sorted(CHAIN3))
async def test_a_chain_of_three_moves_from_a_to_c_skipping_b_and_back(name: str) -> None:
    """A move down that skips a carrier writes the third's ids directly; the way back restores what was
    recorded. Genesys: the routes' carrier bases in chain order behind the active one, the row naming it."""
    peer = PEERS[name]
    state = byoc_org(more=("tb-carrier-c",)) if name == "genesys" else peer.make_state()
    peer.set_calls(state, 0)
    port = free_port(socket.SOCK_STREAM)
    a, b, c = CHAIN3[name]
    async with serving(peer.make_app(state), "127.0.0.1", port):
        platform = _chain_adapter(name, f"http://127.0.0.1:{port}")
        try:
            before = await platform.read_routing()
            assert before.trunk_group_id == a
            out = await swap(platform, c, "chain-1-to-c")
            assert out.ok, out.detail
            assert peer.routed_to(state) == c and (await platform.read_routing()).trunk_group_id == c
            if name == "genesys":
                assert [t["id"] for t in state.routes["route-1"]["externalTrunkBases"]] == [c, a, b]
                assert state.rows[("dt-carrier", "active")]["activeCarrier"] == "c"
                assert state.trunk_bases[a]["properties"]["trunk_enabled"]["value"]["instance"] is False
            back = await swap(platform, a, "chain-2-to-a", restore=before)
            assert back.ok, back.detail
            assert peer.routed_to(state) == a and (await platform.read_routing()).trunk_group_id == a
            if name == "genesys":
                assert [t["id"] for t in state.routes["route-1"]["externalTrunkBases"]] == [a, b, c]
                assert state.rows[("dt-carrier", "active")]["activeCarrier"] == "primary"
        finally:
            await platform.close()
