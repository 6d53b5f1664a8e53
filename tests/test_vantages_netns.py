"""Several vantages on one machine: each carrier's SIPp in its own network namespace, the leader and
two `trunkguard agent`s in three others, joined by a bridge in a namespace of its own (tests/netlab.py).
The store is one SQLite file, which every namespace shares through the filesystem; the platform
emulator runs beside the leader. Needs root: skipped with the reason elsewhere, run under CI=true.

- A reference: the leader alone (no vantages configured), the primary's SIPp killed: cutover T1.
- Three vantages, quorum 2 of 3: site-b's path to the primary cut: site-b sees it down, nobody
  swaps, and the record says so. site-c unplugged: named isolated. site-b's path mended, then the
  primary's SIPp killed: one swap, within T1 + 2 s, its sentence naming the vantages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy

from tests.conftest import IN_CI, need_sipp
from tests.netlab import NetLab, netns_problem

pytestmark = [pytest.mark.sipp, pytest.mark.slow]

PRIMARY, SECONDARY = "10.77.0.11", "10.77.0.12"
SITES = {"site-a": "10.77.0.21", "site-b": "10.77.0.22", "site-c": "10.77.0.23"}
PLATFORM_PORT = 8790
ENV = {"TRUNKGUARD_CLIENT_ID": "trunkguard", "TRUNKGUARD_CLIENT_SECRET": "lab-secret",
       "TRUNKGUARD_API_TOKEN": "netns-token"}


def _need_netns() -> None:
    why = netns_problem()
    if why is not None:
        if IN_CI:
            pytest.fail(f"network-namespace tests must run under CI=true, but {why}")
        pytest.skip(why)


def config_text(db: Path, *, vantages: bool) -> str:
    health = "{interval: 1s, timeout: 800ms, confirm_interval: 200ms, down_after: 2, confirm_burst: 2, up_after: 2}"
    quorum = "vantages: {names: [site-a, site-b, site-c], report_every: 250ms, stale_after: 3s}\n" if vantages else ""
    return f"""
carriers:
  primary:
    trunk_group_id: tg-primary
    health: {health}
    trunks: [{{name: primary-1, uri: "sip:{PRIMARY}:5060;transport=udp"}}]
  secondary:
    trunk_group_id: tg-secondary
    health: {health}
    trunks: [{{name: secondary-1, uri: "sip:{SECONDARY}:5060;transport=udp"}}]
policy:
  poll_interval: 500ms
  quorum: majority
  failback: {{mode: approval}}
  readiness: {{trunks: true, sweep: false, certs: false, parity: false}}
platform:
  kind: emulator
  base_url: http://127.0.0.1:{PLATFORM_PORT}
  rule_id: rule-inbound-1
  queue_id: primary_inbound_queue_id
  client_id_env: TRUNKGUARD_CLIENT_ID
  client_secret_env: TRUNKGUARD_CLIENT_SECRET
  timeout: 2s
storage: {{url: "sqlite:///{db}", trace_retention: 0s}}
api: {{listen: "127.0.0.1:8080", token_env: TRUNKGUARD_API_TOKEN}}
replica: {{lease_ttl: 3s}}
{quorum}"""


class Site:
    """One run of the lab: the carriers' SIPps, the emulator and trunkguard processes, and the store."""

    def __init__(self, lab: NetLab, folder: Path, *, vantages: bool) -> None:
        self.lab, self.folder = lab, folder
        self.db = folder / "trunkguard.db"
        self.platform_file = folder / "platform.json"
        self.config = folder / "trunkguard.yaml"
        self.config.write_text(config_text(self.db, vantages=vantages))
        self.sipp: dict[str, subprocess.Popen[bytes]] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.engine = sqlalchemy.create_engine(f"sqlite:///{self.db}")

    def carrier(self, name: str, address: str) -> None:
        log = (self.folder / f"sipp-{name}.log").open("ab")
        self.sipp[name] = self.lab.popen(name, ["sipp", "-sn", "uas", "-aa", "-i", address, "-p", "5060", "-t", "u1",
                                                "-deadcall_wait", "0", "-nostdin"], log=log, cwd=self.folder)

    def platform(self) -> None:
        log = (self.folder / "platform.log").open("ab")
        self.procs.append(self.lab.popen("site-a", [sys.executable, "-m", "tests.nsplatform", str(PLATFORM_PORT),
                                                    str(self.platform_file)], log=log, cwd=Path.cwd()))
        wait_for(lambda: self.platform_file.exists(), "the platform emulator", 20)

    def trunkguard(self, site: str, command: str) -> None:
        log = (self.folder / f"{site}.log").open("ab")
        env = {**os.environ, **ENV}
        self.procs.append(self.lab.popen(site, [sys.executable, "-m", "trunkguard", command, "--config",
                                                str(self.config), "--name", site], log=log, env=env))

    def applied(self) -> list[tuple[str, float]]:
        data = json.loads(self.platform_file.read_text())
        return [(k, at) for k, at in data["applied"]]

    def query(self, sql: str) -> list[tuple[object, ...]]:
        try:
            with self.engine.connect() as conn:
                return [tuple(r) for r in conn.execute(sqlalchemy.text(sql))]
        except sqlalchemy.exc.OperationalError:  # not created yet
            return []

    def sentences(self) -> list[str]:
        return [str(r[0]) for r in self.query("SELECT sentence FROM decisions ORDER BY id")]

    def views(self) -> dict[str, dict[str, object]]:
        return {str(name): json.loads(str(view)) for name, view in
                self.query("SELECT name, view FROM members WHERE view IS NOT NULL")}

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(self.folder.glob("*.log")))

    def close(self) -> None:
        for p in [*self.procs, *self.sipp.values()]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [*self.procs, *self.sipp.values()]:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.engine.dispose()


def wait_for(check: Callable[[], object], what: str, timeout: float, detail: Callable[[], str] = lambda: "") -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}\n{detail()}")


@pytest.fixture
def lab() -> Iterator[NetLab]:
    _need_netns()
    need_sipp()
    with NetLab() as lab:
        lab.host("primary", PRIMARY)
        lab.host("secondary", SECONDARY)
        for site, address in SITES.items():
            lab.host(site, address)
        yield lab


def _carriers(site: Site) -> None:
    site.carrier("primary", PRIMARY)
    site.carrier("secondary", SECONDARY)


def _up_everywhere(site: Site, names: list[str]) -> Callable[[], bool]:
    def check() -> bool:
        views = site.views()
        return all(n in views and views[n].get("reaches") == ["primary", "secondary"]
                   and not views[n].get("failing") for n in names)
    return check


def test_one_cut_path_swaps_nothing_an_isolated_vantage_is_named_and_a_dead_carrier_swaps_once(
        lab: NetLab, tmp_path: Path) -> None:
    # -- the reference: one vantage, the primary's SIPp killed ---------------------------------------
    (tmp_path / "single").mkdir()
    single = Site(lab, tmp_path / "single", vantages=False)
    try:
        _carriers(single)
        single.platform()
        single.trunkguard("site-a", "run")
        wait_for(_up_everywhere(single, ["site-a"]), "site-a to see both carriers up", 30, single.logs)
        time.sleep(1.0)
        killed = time.time()
        single.sipp["primary"].kill()
        wait_for(lambda: single.applied(), "the single vantage's swap", 30, single.logs)
        reference = single.applied()[0][1] - killed
    finally:
        single.close()
    assert len(single.applied()) == 1
    # -- three vantages, a majority needed ---------------------------------------------------------
    (tmp_path / "quorum").mkdir()
    site = Site(lab, tmp_path / "quorum", vantages=True)
    try:
        _carriers(site)
        site.platform()
        site.trunkguard("site-a", "run")
        site.trunkguard("site-b", "agent")
        site.trunkguard("site-c", "agent")
        wait_for(_up_everywhere(site, list(SITES)), "every vantage to see both carriers up", 40, site.logs)
        # site-b's path to the primary breaks: it sees the primary down; the others do not
        lab.cut("site-b", PRIMARY)
        wait_for(lambda: any("site-b sees the primary down" in s for s in site.sentences()),
                 "the leader to record site-b's view", 20, site.logs)
        time.sleep(4.0)  # far longer than the reference cutover
        assert site.applied() == [], site.sentences()
        assert site.views()["site-a"]["down"] == [] and site.views()["site-b"]["down"] == ["primary"]
        # site-c loses its network: it reaches nothing, so it does not count
        lab.unplug("site-c")
        # first "is re-checking secondary too" (its trunks fail one by one), then it reaches nothing
        wait_for(lambda: any("site-c is isolated" in s for s in site.sentences()), "site-c to be named isolated", 20,
                 site.logs)
        wait_for(lambda: site.views()["site-c"]["reaches"] == [], "site-c to reach nothing", 20, site.logs)
        time.sleep(2.0)
        assert site.applied() == [], site.sentences()  # site-b sees the primary down, site-c counts for nothing
        lab.mend("site-b", PRIMARY)
        wait_for(lambda: any("site-b sees the primary up" in s for s in site.sentences()),
                 "site-b to see the primary again", 20, site.logs)
        killed = time.time()
        site.sipp["primary"].kill()
        wait_for(lambda: site.applied(), "the quorum's swap", 30, site.logs)
        cutover = site.applied()[0][1] - killed
        time.sleep(2.0)
        assert len(site.applied()) == 1, site.applied()
        swap = [s for s in site.sentences() if s.startswith("activating the secondary")]
        assert swap and "primary down from 2 of 3 vantages (site-c reaches nothing: isolated)" in swap[0], swap
        print(f"cutover: one vantage {reference:.2f}s, quorum of 2 of 3 vantages {cutover:.2f}s")
        assert cutover <= reference + 2.0, (reference, cutover)
    finally:
        site.close()
