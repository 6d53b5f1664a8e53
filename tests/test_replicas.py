"""Several replicas on one PostgreSQL, one host, one host name: one leader, named by every replica's
status and by `trunkguard status`; SIGKILL and SIGSTOP of the leader mid-outage (bench/replicas.py,
a run of each here; the bench runs 20 of each)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.replicas import replica_run
from typer.testing import CliRunner

from tests.conftest import _postgres_schema, eventually, need_sipp
from trunkguard.api.view import status_json
from trunkguard.app import Service
from trunkguard.cli import app as cli
from trunkguard.config import parse_config, with_listen
from trunkguard.lab.lab import free_tcp_port, lab_environment, running_lab


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema()


async def test_replicas_of_one_host_share_out_one_lease_and_status_names_the_leader(postgres_url: str,
                                                                                    tmp_path: Path) -> None:
    async with running_lab() as lab:
        ports = [free_tcp_port() for _ in range(2)]
        cfg = parse_config(lab.config_text("fast", storage=postgres_url, api_listen=f"127.0.0.1:{ports[0]}")
                           + "replica: {lease_ttl: 2s}\n")
        config_file = tmp_path / "trunkguard.yaml"
        services = [Service.build(with_listen(cfg, f"127.0.0.1:{p}"), lab_environment("t")) for p in ports]
        assert services[0].status().facts.me.name == services[1].status().facts.me.name  # the host's name, twice
        stops = [asyncio.Event() for _ in services]
        tasks = [asyncio.create_task(s.run(stop)) for s, stop in zip(services, stops, strict=True)]
        try:
            await eventually(lambda: sum(s.status().leader for s in services) == 1
                             and all(len(s.status().facts.roll.members) == 2 for s in services),
                             "one leader, and both replicas heard of by both")
            leader = next(i for i, s in enumerate(services) if s.status().leader)
            standby = 1 - leader
            async with httpx.AsyncClient() as client:
                codes = [(await client.get(f"http://127.0.0.1:{p}/leader")).status_code for p in ports]
                metrics = (await client.get(f"http://127.0.0.1:{ports[standby]}/metrics",
                                            headers={"Authorization": "Bearer t"})).text
            assert codes[leader] == 200 and codes[standby] == 503
            heard = [line for line in metrics.splitlines()
                     if line.startswith("trunkguard_replica_heard_timestamp_seconds{")]
            # one series per replica name (these two share the host's): no per-process id, no flipping leader label
            assert len(heard) == 1 and "leader=" not in heard[0] and "id=" not in heard[0], heard
            # a Unix time, not an age: within the last few heartbeats
            assert time.time() - 10 < float(heard[0].rsplit(" ", 1)[1]) <= time.time(), heard
            assert "trunkguard_lease_term 1.0" in metrics
            me = services[leader].status().facts.me
            view = status_json(services[standby].status())
            assert view["lease"]["holder"] == me.holder and view["lease"]["term"] == 1
            assert {m["holder"] for m in view["replicas"]} == {s.status().facts.me.holder for s in services}
            # `trunkguard status` against the standby's API (the config file names its port)
            config_file.write_text(lab.config_text("fast", storage=postgres_url,
                                                   api_listen=f"127.0.0.1:{ports[standby]}"))
            result = await asyncio.to_thread(CliRunner().invoke, cli, ["status", "--config", str(config_file)],
                                             env={"TRUNKGUARD_API_TOKEN": "t"})
            assert result.exit_code == 0, result.output
            assert f"leader: {me.name} on {me.host}, pid {me.pid} (term 1" in result.output
            assert "standby (this one)" in result.output and "leader" in result.output
            as_json = await asyncio.to_thread(CliRunner().invoke, cli, ["status", "--config", str(config_file),
                                                                        "--json"], env={"TRUNKGUARD_API_TOKEN": "t"})
            assert json.loads(as_json.output)["lease"]["holder"] == me.holder
            # the leader stops cleanly: it gives the lease up, and the standby takes it at its next try
            stops[leader].set()
            await asyncio.wait_for(tasks[leader], 20)
            await eventually(lambda: services[standby].status().leader, "the standby to take over", timeout=5)
            assert services[standby].status().facts.term == 2
        finally:
            for stop in stops:
                stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.sipp
@pytest.mark.slow
@pytest.mark.parametrize(("sig", "replicas", "seed"), [("KILL", 3, 4), ("STOP", 2, 9)])
async def test_a_killed_or_stopped_leader_is_replaced_within_the_ttl_and_one_swap_lands(
        tmp_path: Path, sig: str, replicas: int, seed: int, postgres_url: str) -> None:
    need_sipp()
    run = await replica_run(tmp_path, seed, replicas=replicas, sig=sig, ttl=3.0)
    assert run.ok, run
    assert run.two_leaders == 0 and run.takeover_s <= 4.5 and len(run.applied_keys) == 1 and run.woken_writes == 0


async def test_status_and_metrics_count_each_vantage_and_name_the_silent_one(postgres_url: str) -> None:
    async with running_lab() as lab:
        ports = [free_tcp_port() for _ in range(2)]
        cfg = parse_config(lab.config_text("fast", storage=postgres_url, api_listen=f"127.0.0.1:{ports[0]}")
                           + "vantages: {names: [site-a, site-b, site-c], report_every: 200ms}\n")
        services = [Service.build(with_listen(cfg, f"127.0.0.1:{p}"), lab_environment("t"), name=name, agent=agent)
                    for p, name, agent in zip(ports, ("site-a", "site-b"), (False, True), strict=True)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(s.run(stop)) for s in services]

        def counted() -> dict[str, str]:
            quorum = status_json(services[0].status())["vantages"]
            return {v["name"]: v["state"] for v in quorum["vantages"]}
        try:
            await eventually(lambda: counted() == {"site-a": "up", "site-b": "up", "site-c": "isolated"},
                             "site-a and site-b up, site-c never heard from")
            quorum = status_json(services[0].status())["vantages"]
            assert quorum["need"] == 2 and quorum["of"] == 3 and not quorum["primary_down"]
            assert quorum["sentence"] == "primary up from every vantage that counts (site-c never heard from: isolated)"
            assert not services[1].status().leader  # an agent never takes the lease
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(f"http://127.0.0.1:{ports[0]}/metrics")).text
            assert 'trunkguard_vantage_state{state="isolated",vantage="site-c"} 1.0' in metrics
            assert 'trunkguard_vantage_state{state="up",vantage="site-b"} 1.0' in metrics
            assert 'trunkguard_replica_heard_timestamp_seconds{kind="agent",name=' in metrics
            heard = [line for line in metrics.splitlines()
                     if line.startswith('trunkguard_vantage_heard_timestamp_seconds{vantage="site-b"}')]
            assert len(heard) == 1 and time.time() - 10 < float(heard[0].rsplit(" ", 1)[1]) <= time.time(), heard
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_an_agent_needs_only_to_read_the_store_and_write_its_own_row(postgres_url: str) -> None:
    """docs/deployment.md's role for agents: SELECT everywhere, writes on `members` only. An agent on
    it runs, heartbeats its view, and the leader counts it; nothing else it does needs more."""
    import secrets

    import sqlalchemy

    from trunkguard.store import Store

    schema = postgres_url.rsplit("%3D", 1)[1]
    role = f"tg_agent_{secrets.token_hex(3)}"
    Store.open(postgres_url).close()  # the replicas create and migrate the schema
    admin = sqlalchemy.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        for sql in (f"CREATE ROLE {role} LOGIN", f"GRANT USAGE ON SCHEMA {schema} TO {role}",
                    f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
                    f"GRANT INSERT, UPDATE, DELETE ON {schema}.members TO {role}"):
            conn.execute(sqlalchemy.text(sql))
    try:
        async with running_lab() as lab:
            ports = [free_tcp_port() for _ in range(2)]
            text = lab.config_text("fast", storage=postgres_url, api_listen=f"127.0.0.1:{ports[0]}") \
                + "vantages: {names: [site-a, site-b], report_every: 200ms}\n"
            leader = Service.build(parse_config(text), lab_environment("t"), name="site-a")
            agent_cfg = parse_config(text.replace(postgres_url, postgres_url.replace("postgres@", f"{role}@"))
                                     .replace(f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}"))
            agent = Service.build(agent_cfg, lab_environment("t"), name="site-b", agent=True)
            stop = asyncio.Event()
            tasks = [asyncio.create_task(s.run(stop)) for s in (leader, agent)]

            def counted() -> dict[str, str]:
                return {v["name"]: v["state"] for v in status_json(leader.status())["vantages"]["vantages"]}
            try:
                await eventually(lambda: counted() == {"site-a": "up", "site-b": "up"}, "the agent counted")
                assert agent.status().store_ok and not agent.status().leader
            finally:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP OWNED BY {role}"))
            conn.execute(sqlalchemy.text(f"DROP ROLE {role}"))
        admin.dispose()
