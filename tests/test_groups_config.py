"""Routing groups in the config: several operations in one deployment, each with its own chain, DIDs,
policy and routing objects, over carriers defined once. Each rule is refused at its dotted path with a
sentence a person can act on; a config without `groups` is one group, `default`, exactly as before."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trunkguard.config import DEFAULT_GROUP, Config, RoutingGroup, load_config, parse_config
from trunkguard.config_advice import policy_warnings, unconfigured_gates, unconfigured_gates_of
from trunkguard.config_reload import changes, refusals, reloadable
from trunkguard.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "groups.yaml"


def _carrier(n: int, **extra: Any) -> dict[str, Any]:
    return {"trunk_group_id": f"tg-{n}", "trunks": [{"name": f"t-{n}", "uri": f"sip:127.0.0.1:{5070 + 2 * n}"}],
            **extra}


BASE: dict[str, Any] = {
    "carriers": {"na-a": _carrier(0), "na-b": _carrier(1), "shared-c": _carrier(2), "eu-x": _carrier(3)},
    "groups": {
        "na": {"chain": ["na-a", "na-b", "shared-c"], "dids": ["+15550001001"],
               "platform": {"rule_id": "rule-na"}},
        "eu": {"chain": ["eu-x", "shared-c"], "dids": ["+442070001001"], "platform": {"rule_id": "rule-eu"}},
    },
    "platform": {"kind": "generic", "base_url": "http://127.0.0.1:8701", "client_id_env": "TG_ID",
                 "client_secret_env": "TG_SECRET"},
}


def _config(change: Callable[[dict[str, Any]], object] | None = None) -> Config:
    data = copy.deepcopy(BASE)
    if change is not None:
        change(data)
    return parse_config(json.dumps(data))  # JSON is YAML


def _refused(change: Callable[[dict[str, Any]], object]) -> tuple[str, str]:
    with pytest.raises(ConfigError) as info:
        _config(change)
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


# ---- what a config with groups reads as ------------------------------------------------------------


def test_the_groups_example_loads_with_each_groups_merged_policy_and_platform() -> None:
    config = load_config(EXAMPLE)
    na, eu = config.routing_groups()
    assert (na.name, na.chain, na.dids) == ("na", ("na-a", "na-b", "shared-c"), ("+15550001001", "+15550001002"))
    assert (eu.name, eu.chain, eu.dids) == ("eu", ("eu-x", "shared-c"), ("+442070001001",))
    # na's failback is its own; the rest of its policy, and all of eu's, is the top level's
    assert na.policy.failback.mode == "sustained" and na.policy.failback.sustained_recovery == 300.0
    assert eu.policy.failback.mode == "approval" == config.policy.failback.mode
    assert na.policy.cooling_period == eu.policy.cooling_period == 90.0
    # each group's rule, the shared keys (the credentials' variables) from the top level
    assert na.platform is not None and eu.platform is not None
    assert (na.platform.rule_id, eu.platform.rule_id) == ("rule-inbound-na", "rule-inbound-eu")
    for platform in (na.platform, eu.platform):
        assert platform.kind == "generic" and platform.base_url == "http://127.0.0.1:8701"
        assert (platform.client_id_env, platform.client_secret_env) == ("TRUNKGUARD_CLIENT_ID",
                                                                          "TRUNKGUARD_CLIENT_SECRET")
    # readers of one chain and one platform see the first group
    assert config.chain == ["na-a", "na-b", "shared-c"] and config.platform == na.platform
    assert config.routing_groups() is config.routing_groups()  # made once


def test_carriers_are_ordered_by_first_appearance_across_the_groups_chains() -> None:
    config = _config(lambda d: d.update(carriers=dict(reversed(list(d["carriers"].items())))))
    assert config.carriers.chain == ("na-a", "na-b", "shared-c", "eu-x")
    assert config.carriers.first is config.carriers["na-a"]
    assert [name for name, _ in config.carriers.later()] == ["na-b", "shared-c", "eu-x"]
    eu_first = _config(lambda d: d.update(groups={"eu": d["groups"]["eu"], "na": d["groups"]["na"]}))
    assert eu_first.carriers.chain == ("eu-x", "shared-c", "na-a", "na-b")
    assert eu_first.chain == ["eu-x", "shared-c"]
    assert [g.name for g in eu_first.routing_groups()] == ["eu", "na"]


def test_a_carrier_first_in_one_group_and_later_in_another_keeps_down_after_3() -> None:
    def eu_x_later_in_na(d: dict[str, Any]) -> None:
        d["groups"]["na"]["chain"] = ["na-a", "eu-x", "shared-c"]
        d["groups"]["eu"]["chain"] = ["eu-x", "na-b"]
        d["carriers"]["shared-c"]["health"] = {"down_after": 4}  # set: kept

    config = _config(eu_x_later_in_na)
    down_after = {name: carrier.health.down_after for name, carrier in config.carriers.items()}
    assert down_after == {"na-a": 3, "eu-x": 3, "shared-c": 4, "na-b": 2}
    # the example: na-b and shared-c are only ever later; eu-x and na-a are first in their group
    example = load_config(EXAMPLE)
    assert {n: c.health.down_after for n, c in example.carriers.items()} == {"na-a": 3, "na-b": 2, "shared-c": 2,
                                                                            "eu-x": 3}


def test_a_config_without_groups_is_one_default_group_of_its_chain_policy_and_platform() -> None:
    for name in ("chain.yaml", "design-example.yaml", "two-sites.yaml"):
        config = load_config(ROOT / "examples" / name)
        (group,) = config.routing_groups()
        assert group == RoutingGroup(DEFAULT_GROUP, config.carriers.chain, config.policy, config.platform, ())
        assert group.policy is config.policy and group.platform is config.platform
        assert config.groups is None
    assert DEFAULT_GROUP == "default"


def test_a_copy_of_a_config_without_groups_has_its_one_group_made_again() -> None:
    config = load_config(ROOT / "examples" / "design-example.yaml")
    policy = config.policy.model_copy(update={"cooling_period": 5.0})
    (group,) = config.model_copy(update={"policy": policy}).routing_groups()
    assert group.policy.cooling_period == 5.0


def test_a_group_without_a_platform_override_and_no_platform_at_all() -> None:
    def no_platform(d: dict[str, Any]) -> None:
        del d["platform"]
        for group in d["groups"].values():
            del group["platform"]

    config = _config(no_platform)
    assert [g.platform for g in config.routing_groups()] == [None, None] and config.platform is None


def test_the_dids_file_of_a_group_is_read_with_the_config(tmp_path: Path) -> None:
    (tmp_path / "eu.txt").write_text("# EMEA\n+442070001001\n\n+442070001002  # London\n")
    data = copy.deepcopy(BASE)
    data["groups"]["eu"].pop("dids")
    data["groups"]["eu"]["dids_file"] = "eu.txt"
    path = tmp_path / "groups.yaml"
    path.write_text(json.dumps(data))
    assert load_config(path).routing_groups()[1].dids == ("+442070001001", "+442070001002")
    (tmp_path / "eu.txt").write_text("+442070001001\nlondon\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [("groups.eu.dids_file", "line 2: 'london' is not a number like +15550000001")]
    (tmp_path / "eu.txt").unlink()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    ((where, rule),) = info.value.problems
    assert where == "groups.eu.dids_file" and rule.startswith(f"cannot read {tmp_path / 'eu.txt'}")


# ---- each rule, refused at its path --------------------------------------------------------------------


def test_a_group_chain_needs_two_carriers() -> None:
    where, rule = _refused(lambda d: d["groups"]["na"].update(chain=["na-a"]))
    assert where == "groups.na.chain" and "a chain needs at least two carriers" in rule


def test_a_carrier_listed_twice_in_a_group_chain() -> None:
    where, rule = _refused(lambda d: d["groups"]["na"].update(chain=["na-a", "na-b", "na-a", "shared-c"]))
    assert (where, rule) == ("groups.na.chain[2]", "'na-a' is listed twice; each carrier has one place in the chain")


def test_an_unknown_carrier_in_a_group_chain_names_the_carriers_there_are() -> None:
    where, rule = _refused(lambda d: d["groups"]["na"].update(chain=["na-a", "na-z", "shared-c"]))
    assert (where, rule) == ("groups.na.chain[1]", "'na-z' is not a carrier: carriers has na-a, na-b, shared-c, eu-x")


def test_a_carrier_in_no_group_chain() -> None:
    where, rule = _refused(lambda d: d["carriers"].update(spare=_carrier(4)))
    assert (where, rule) == ("carriers.spare", "is in no group's chain: list it in a group, or remove it")


def test_a_top_level_chain_with_groups() -> None:
    where, rule = _refused(lambda d: d.update(chain=["na-a", "na-b"]))
    assert where == "chain" and rule.startswith("use each group's chain under groups")


def test_groups_given_empty() -> None:
    where, rule = _refused(lambda d: d.update(groups={}))
    assert where == "groups" and "at least one group" in rule


def test_a_group_with_the_sweep_gate_on_needs_dids() -> None:
    where, rule = _refused(lambda d: d["groups"]["eu"].pop("dids"))
    assert where == "groups.eu.dids"
    assert rule == ("is required while the group's sweep gate is on (policy.readiness.sweep): list the numbers "
                    "the sweep calls, or turn the gate off for this group")
    # every later carrier with its own numbers will do, and so will the gate off for the group
    def later_carriers_have_dids(d: dict[str, Any]) -> None:
        d["groups"]["eu"].pop("dids")
        d["carriers"]["shared-c"]["dids_file"] = "shared.txt"

    assert _config(later_carriers_have_dids).routing_groups()[1].dids == ()
    gate_off = _config(lambda d: d["groups"]["eu"].update(dids=None, policy={"readiness": {"sweep": False}}))
    assert gate_off.routing_groups()[1].policy.readiness.sweep is False
    # but not only some of them: na's later carriers are na-b and shared-c
    def one_later_carrier_has_dids(d: dict[str, Any]) -> None:
        d["groups"]["na"].pop("dids")
        d["carriers"]["na-b"]["dids"] = ["+15550001001"]

    assert _refused(one_later_carrier_has_dids)[0] == "groups.na.dids"
    # a config without groups keeps its "not configured" sweep: no rule at load
    assert parse_config((ROOT / "tests" / "configs" / "minimal.yaml").read_text()).policy.readiness.sweep


def test_two_groups_on_the_same_generic_rule() -> None:
    def same_rule(d: dict[str, Any]) -> None:
        d["platform"]["rule_id"] = "rule-all"
        del d["groups"]["na"]["platform"]
        del d["groups"]["eu"]["platform"]

    where, rule = _refused(same_rule)
    assert where == "groups.eu.platform"
    assert rule == ("names the same rule_id 'rule-all' as group na: one group's swap would move the other's "
                    "routing; give each group its own")
    # with no rule at all, the group is told it needs one
    assert _refused(lambda d: d["groups"]["eu"].pop("platform")) == ("groups.eu.platform.rule_id",
                                                                     "is required for kind generic")


def _genesys(d: dict[str, Any]) -> None:
    d["platform"] = {"kind": "genesys", "region": "us_east_1", "datatable_id": "table-1",
                     "client_id_env": "TG_ID", "client_secret_env": "TG_SECRET"}
    d["groups"]["na"]["platform"] = {"datatable_row": "na", "outbound_routes": ["route-na"]}
    d["groups"]["eu"]["platform"] = {"datatable_row": "eu", "outbound_routes": ["route-eu"]}


def test_genesys_groups_each_need_their_own_routes_and_row() -> None:
    config = _config(_genesys)
    assert [(g.platform.datatable_id, g.platform.datatable_row) for g in config.routing_groups()
            if g.platform is not None] == [("table-1", "na"), ("table-1", "eu")]

    def same_row(d: dict[str, Any]) -> None:
        _genesys(d)
        d["groups"]["eu"]["platform"] = {"datatable_row": "na", "outbound_routes": ["route-eu"]}

    where, rule = _refused(same_row)
    assert where == "groups.eu.platform" and "data table row table-1/na as group na" in rule
    assert "one group's swap would move the other's routing" in rule

    def same_route(d: dict[str, Any]) -> None:
        _genesys(d)
        del d["platform"]["datatable_id"]
        d["groups"]["na"]["platform"] = {"outbound_routes": ["route-na", "route-shared"]}
        d["groups"]["eu"]["platform"] = {"outbound_route_id": "route-shared"}

    where, rule = _refused(same_route)
    assert where == "groups.eu.platform" and "outbound route 'route-shared' as group na" in rule

    def row_alone(d: dict[str, Any]) -> None:  # without its routes listed, a swap moves every route of its carriers
        _genesys(d)
        d["groups"]["eu"]["platform"] = {"datatable_row": "eu"}

    where, rule = _refused(row_alone)
    assert where == "groups.eu.platform" and rule.startswith("needs outbound_routes of its own")

    def trunk_of_a_shared_first(d: dict[str, Any]) -> None:
        _genesys(d)
        d["platform"]["manage_trunk_enabled"] = True
        d["groups"]["eu"]["chain"] = ["na-a", "eu-x", "shared-c"]  # na's first carrier is eu's too

    where, rule = _refused(trunk_of_a_shared_first)
    assert where == "groups.na.platform.manage_trunk_enabled" and "another group routes to it too" in rule


def test_cxone_groups_on_the_same_point_of_contact() -> None:
    def cxone(d: dict[str, Any]) -> None:
        d["platform"] = {"kind": "cxone", "base_url": "https://api.example", "point_of_contact_id": "poc-1",
                         "access_key_id_env": "K", "access_key_secret_env": "S"}
        d["groups"]["na"]["platform"] = {"point_of_contact_id": "poc-na"}
        del d["groups"]["eu"]["platform"]

    assert _config(cxone).routing_groups()[1].platform is not None
    where, rule = _refused(lambda d: (cxone(d), d["groups"]["na"]["platform"].update(point_of_contact_id="poc-1")))
    assert where == "groups.eu.platform" and "point_of_contact_id 'poc-1' as group na" in rule


def test_a_groups_fewer_usable_than_above_its_first_carriers_trunks() -> None:
    where, rule = _refused(lambda d: d["groups"]["eu"].update(policy={"primary_down_when": {"fewer_usable_than": 2}}))
    assert where == "groups.eu.policy.primary_down_when.fewer_usable_than"
    assert rule.startswith("must be at most the eu-x's 1 trunk, not 2")
    # from the top level it is checked against each group's first carrier, and named in the group it breaks
    def top(d: dict[str, Any]) -> None:
        d["policy"] = {"primary_down_when": {"fewer_usable_than": 2}}
        d["carriers"]["na-a"]["trunks"].append({"name": "t-0b", "uri": "sip:127.0.0.1:5090"})

    assert _refused(top)[0] == "groups.eu.policy.primary_down_when.fewer_usable_than"


def test_a_merged_policy_that_does_not_hold_is_named_under_the_group() -> None:
    assert _refused(lambda d: d["groups"]["na"].update(policy={"cooling_period": "3d"})) == (
        "groups.na.policy.cooling_period", "must be at most 1d, not 3d")
    assert _refused(lambda d: d["groups"]["na"].update(policy={"failbak": {"mode": "sustained"}})) == (
        "groups.na.policy.failbak", "unknown key; did you mean 'failback'?")
    # what the group sets, with what it inherits: sustained (the group's) with no recovery time (the top level's)
    def together(d: dict[str, Any]) -> None:
        d["policy"] = {"failback": {"sustained_recovery": 0}}
        d["groups"]["na"]["policy"] = {"failback": {"mode": "sustained"}}

    assert _refused(together) == ("groups.na.policy.failback.sustained_recovery", "must be more than 0 in sustained mode")
    assert _refused(lambda d: d["groups"]["na"].update(policy=["observe"]))[0] == "groups.na.policy"


def test_a_merged_platform_that_does_not_hold_is_named_where_it_was_written() -> None:
    assert _refused(lambda d: d["groups"]["na"]["platform"].update(sites=["site-1"])) == (
        "groups.na.platform.sites", "is only for kind genesys")
    assert _refused(lambda d: d["platform"].update(base_url="ftp://x"))[0] == "platform.base_url"  # a shared key


def test_a_groups_platform_gives_only_routing_objects() -> None:
    where, rule = _refused(lambda d: d["groups"]["na"]["platform"].update(client_secret_env="NA_SECRET"))
    assert where == "groups.na.platform.client_secret_env" and rule.startswith("is set once for every group, under "
                                                                                "platform")
    assert _refused(lambda d: d["groups"]["na"]["platform"].update(base_url="http://other"))[1].startswith(
        "is set once for every group, under platform")
    assert _refused(lambda d: d["groups"]["na"]["platform"].update(rule_idd="x")) == (
        "groups.na.platform.rule_idd", "unknown key; did you mean 'rule_id'?")
    assert _refused(lambda d: d.pop("platform")) == (
        "groups.na.platform", "needs the top-level platform: kind, base_url and the credentials are set once for "
                              "every group, under platform")


def test_trunk_and_peer_uniqueness_hold_across_every_groups_carriers() -> None:
    where, rule = _refused(lambda d: d["carriers"]["eu-x"]["trunks"][0].update(name="t-0"))
    assert (where, rule) == ("carriers.eu-x.trunks[0].name", "'t-0' is used twice; trunk names must be unique")
    where, rule = _refused(lambda d: d["carriers"]["eu-x"]["trunks"][0].update(uri="sip:127.0.0.1:5070"))
    assert where == "carriers.eu-x.trunks[0].uri" and "is the same SIP peer as na-a.trunks[0]" in rule
    where, rule = _refused(lambda d: d["carriers"]["eu-x"].update(trunk_group_id="tg-0"))
    assert where == "carriers.eu-x.trunk_group_id" and "is the na-a's trunk_group_id too" in rule


def test_a_group_with_dids_and_a_dids_file_or_a_bad_did() -> None:
    assert _refused(lambda d: d["groups"]["na"].update(dids_file="na.txt")) == (
        "groups.na.dids_file", "give dids or dids_file, not both")
    assert _refused(lambda d: d["groups"]["na"].update(dids=["+1555", "call me"])) == (
        "groups.na.dids[1]", "'call me' is not a number like +15550000001")


# ---- reload, advice, schema ------------------------------------------------------------------------


def test_a_reload_takes_a_groups_policy_and_refuses_the_rest_of_groups() -> None:
    old = _config()
    policy = _config(lambda d: d["groups"]["eu"].update(policy={"cooling_period": "5m"}))
    assert changes(old, policy) == ["groups.eu.policy", "groups.eu.policy.cooling_period"]
    assert refusals(changes(old, policy)) == []
    assert reloadable("groups.na.policy.failback.mode") and reloadable("groups.na.policy")
    moved = _config(lambda d: d["groups"]["eu"].update(chain=["eu-x", "na-b"]))
    assert refusals(changes(old, moved)) == [(
        "groups.eu.chain[1]", "changed, and the routing groups (their chains, DIDs and routing objects) are read "
                              "only at start: restart trunkguard to apply it")]
    assert not reloadable("groups.eu.platform.rule_id") and not reloadable("groups.eu.dids[0]")
    # a group's name may hold dots: only a path within a policy after `.policy` is one
    assert not reloadable("groups.x.policy.chain[0]") and not reloadable("groups.a.policy.mode.chain[0]")


def test_policy_warnings_and_unconfigured_gates_per_group() -> None:
    def flappy(d: dict[str, Any]) -> None:
        d["groups"]["eu"]["policy"] = {"cooling_period": 0}
        d["carriers"]["na-a"]["profile"] = {"codecs": ["PCMU"]}
        d["carriers"]["na-b"]["profile"] = {"codecs": ["PCMU"]}
        d["carriers"]["shared-c"]["profile"] = {"codecs": ["PCMU"]}

    config = _config(flappy)
    na, eu = config.routing_groups()
    assert unconfigured_gates_of(config, na) == ()
    assert unconfigured_gates_of(config, eu) == (("parity", "no profile for the eu-x carrier in the config"),)
    assert unconfigured_gates(config) == unconfigured_gates_of(config, na)  # the first group's
    paths = [path for path, _ in policy_warnings(config)]
    assert paths == ["groups.na.platform.queue_id", "groups.eu.platform.queue_id",  # each breaker: every queue
                     "groups.eu.policy.cooling_period", "policy.readiness.parity"]
    # eu-x is first in eu: at down_after 3 it is not warned about for being later nowhere
    assert not any(p.startswith("carriers.") for p in paths)


def test_the_schema_checks_a_groups_policy_as_a_policy() -> None:
    from trunkguard.config import json_schema

    schema = json_schema()
    group = schema["$defs"]["GroupConfig"]
    assert group["additionalProperties"] is False and group["required"] == ["chain"]
    assert group["properties"]["policy"]["anyOf"][0] == {"$ref": "#/$defs/Policy"}
    assert group["properties"]["platform"]["anyOf"][0] == {"$ref": "#/$defs/GroupPlatform"}
    assert schema["properties"]["groups"]["description"]


def test_a_group_may_not_set_what_runs_once_for_the_whole_deployment() -> None:
    """One loop polls every group, one quorum judges the carriers, one schedule re-checks them: a group's
    own value would be silently ignored, so it is refused, naming the field."""
    for policy, path in (({"poll_interval": "3s"}, "poll_interval"), ({"quorum": 1}, "quorum"),
                         ({"readiness": {"recheck_interval": "10m"}}, "readiness.recheck_interval"),
                         ({"readiness": {"sweep_interval": "1h"}}, "readiness.sweep_interval"),
                         ({"readiness": {"parity_max_age": "1d"}}, "readiness.parity_max_age")):
        where, rule = _refused(lambda d, p=policy: d["groups"]["eu"].update(policy=p))  # type: ignore[misc]
        assert where == f"groups.eu.policy.{path}" and rule.startswith("is the deployment's, set once under policy")
    config = _config(lambda d: d["groups"]["eu"].update(policy={"readiness": {"parity": False}}))
    assert not config.routing_groups()[1].policy.readiness.parity  # a group's own gates are its own


def test_the_edge_as_a_vantage_is_refused_with_several_groups() -> None:
    def edge(d: dict[str, Any]) -> None:
        d["vantages"] = {"edge": True, "names": ["here"]}

    where, rule = _refused(edge)
    assert where == "vantages.edge" and "read for the first group's carriers only" in rule
