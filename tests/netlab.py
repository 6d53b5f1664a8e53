"""Hosts on one machine: network namespaces joined by veth pairs to a bridge in a namespace of its own,
made by the test and removed when it ends (needs root and iproute2). Nothing is added to the
machine's own namespace: every address lives inside the lab.

    with NetLab() as lab:
        lab.host("carrier-p", "10.77.0.11")
        proc = lab.popen("carrier-p", ["sipp", ...])
        lab.cut("site-b", "10.77.0.11")  # site-b's path to that address goes nowhere (silently)
        lab.unplug("site-b")             # site-b loses its network
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import IO, Any

PREFIX = 24
NOWHERE = "10.77.0.254"  # a neighbour nobody answers ARP for: packets routed through it are dropped


def netns_problem() -> str | None:
    """Why network-namespace tests cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's ip is missing (apt-get install iproute2)"
    probe = f"tgprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class NetLab:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(2)
        self.switch = f"tgsw{self.tag}"
        self.hosts: dict[str, tuple[str, str]] = {}  # name -> (namespace, address)
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> NetLab:
        self._ip("netns", "add", self.switch)
        self._ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        self._ip("-n", self.switch, "link", "set", "br0", "up")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def host(self, name: str, address: str) -> str:
        """A host with one interface on the lab's bridge, and its own loopback. Returns its namespace."""
        ns = f"tg{self.tag}{len(self.hosts)}"
        outer, inner = f"v{self.tag}{len(self.hosts)}o", f"v{self.tag}{len(self.hosts)}i"
        self._ip("netns", "add", ns)
        self._ip("-n", ns, "link", "set", "lo", "up")
        self._ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        self._ip("link", "set", outer, "netns", self.switch)
        self._ip("link", "set", inner, "netns", ns)
        self._ip("-n", self.switch, "link", "set", outer, "master", "br0")
        self._ip("-n", self.switch, "link", "set", outer, "up")
        self._ip("-n", ns, "addr", "add", f"{address}/{PREFIX}", "dev", inner)
        self._ip("-n", ns, "link", "set", inner, "up")
        self.hosts[name] = (ns, address)
        return ns

    def popen(self, name: str, argv: list[str], *, log: IO[bytes] | None = None, **kw: Any) -> subprocess.Popen[bytes]:
        ns = self.hosts[name][0]
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=log or subprocess.DEVNULL,
                                stderr=log or subprocess.DEVNULL, **kw)
        self.procs.append(proc)
        return proc

    def cut(self, name: str, address: str) -> None:
        """`name`'s path to `address` breaks silently: routed to a neighbour that never answers."""
        self._ip("-n", self.hosts[name][0], "route", "add", f"{address}/32", "via", NOWHERE)

    def mend(self, name: str, address: str) -> None:
        self._ip("-n", self.hosts[name][0], "route", "del", f"{address}/32")
        self._ip("-n", self.hosts[name][0], "neigh", "flush", "all")

    def unplug(self, name: str) -> None:
        """`name` loses its network (its interface goes down; its loopback stays)."""
        ns = self.hosts[name][0]
        index = list(self.hosts).index(name)
        self._ip("-n", ns, "link", "set", f"v{self.tag}{index}i", "down")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for ns, _ in self.hosts.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.switch], capture_output=True)

    @staticmethod
    def _ip(*args: str) -> None:
        done = subprocess.run(["ip", *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def write_log(path: Path) -> IO[bytes]:
    return path.open("ab")
