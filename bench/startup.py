#!/usr/bin/env python3
"""How fast the `trunkguard` command starts: `--version`, `--help`, `config check`, `probe --help` and `probe`.

Each command runs as a fresh process (`python -m trunkguard ...`), N times; the table gives the
median and best wall time, the modules' import time from `python -X importtime` (the sum of the
top-level imports' cumulative times, one more run), and which heavy libraries the command loaded.
`probe` asks a small SIP responder this bench runs on loopback (it answers every request 200 OK),
so its time is start-up plus one OPTIONS transaction on loopback.

`--before REF` runs the same commands on the source of a git commit too (a temporary worktree, run
with this interpreter), each run alternating between the two trees, and prints both tables: the
start-up before and after a change. Target (issue 26): each of these under 0.3 s. Usage:
    python bench/startup.py [--runs 9] [--before REF]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("sqlalchemy", "alembic", "httpx", "starlette", "uvicorn", "pydantic", "rich")
TARGET_S = 0.3


def responder() -> tuple[int, threading.Event]:
    """A UDP SIP peer on loopback answering every request 200 OK (headers copied as RFC 3261 8.2.6 says)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            copied = [h for h in head[1:] if h.split(b":", 1)[0].strip().lower()
                      in (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq")]
            sock.sendto(b"\r\n".join([b"SIP/2.0 200 OK", *copied, b"Content-Length: 0", b"", b""]), addr)
        sock.close()

    threading.Thread(target=serve, daemon=True).start()
    return int(sock.getsockname()[1]), stop


def commands(port: int) -> dict[str, list[str]]:
    return {
        "--version": ["--version"],
        "--help": ["--help"],
        "config check": ["config", "check", str(ROOT / "examples" / "design-example.yaml")],
        "probe --help": ["probe", "--help"],
        "probe": ["probe", f"sip:127.0.0.1:{port}", "--timeout", "1s"],
    }


Row = tuple[float, float, float, list[str]]


def measure(srcs: list[Path], runs: int, port: int) -> list[dict[str, Row]]:
    """Per tree, per command: (median wall s, best wall s, import time s, heavy modules loaded). With several
    trees, each run of a command runs it on every tree in turn (interleaved), so a load from other
    processes on a shared machine falls on the trees alike, not on whichever was measured second."""
    envs = [{**os.environ, "PYTHONPATH": str(src), "COLUMNS": "100"} for src in srcs]
    out: list[dict[str, Row]] = [{} for _ in srcs]
    for name, args in commands(port).items():
        argv = [sys.executable, "-m", "trunkguard", *args]
        walls: list[list[float]] = [[] for _ in srcs]
        for _ in range(runs):
            for env, tree_walls in zip(envs, walls, strict=True):
                started = time.perf_counter()
                done = subprocess.run(argv, env=env, capture_output=True, check=False)
                tree_walls.append(time.perf_counter() - started)
                if done.returncode != 0:
                    sys.exit(f"{' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
        for env, tree_walls, rows in zip(envs, walls, out, strict=True):
            rows[name] = (statistics.median(tree_walls), min(tree_walls), *_imports(argv, env))
    return out


def _imports(argv: list[str], env: dict[str, str]) -> tuple[float, list[str]]:
    """One more run under `python -X importtime`: the top-level imports' cumulative seconds, and the heavy
    libraries loaded."""
    traced = subprocess.run([sys.executable, "-X", "importtime", *argv[1:]], env=env, capture_output=True,
                            check=False, text=True)
    top, loaded = 0, set()
    for line in traced.stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if found is None:
            continue
        loaded.add(found.group(3).split(".")[0])
        if len(found.group(2)) == 1:  # a top-level import: its cumulative time counts the nested ones
            top += int(found.group(1))
    return top / 1e6, [m for m in HEAVY if m in loaded]


def table(title: str, rows: dict[str, Row]) -> str:
    lines = [title, f"| command | median | best | imports | under {TARGET_S:g} s | heavy modules loaded |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, (median, best, imports, heavy) in rows.items():
        lines.append(f"| `{name}` | {median:.3f} s | {best:.3f} s | {imports:.3f} s | "
                     f"{'yes' if median < TARGET_S else 'NO'} | {', '.join(heavy) or '-'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--before", metavar="REF", help="Also measure this commit's source (a temporary worktree).")
    args = parser.parse_args()
    port, stop = responder()
    try:
        if args.before:
            with tempfile.TemporaryDirectory(prefix="trunkguard-startup-") as tmp:
                tree = Path(tmp) / "tree"
                subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), args.before],
                               check=True)
                try:
                    before, after = measure([tree / "src", ROOT / "src"], args.runs, port)
                finally:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
            print(table(f"before ({args.before}):", before))
            print()
        else:
            [after] = measure([ROOT / "src"], args.runs, port)
        print(table("after (this tree, runs interleaved with the before's):" if args.before else "this tree:", after))
    finally:
        stop.set()
    print(f"\n{args.runs} runs each, {sys.executable} (Python {sys.version.split()[0]}), {os.cpu_count()} CPUs")
    return 0 if all(median < TARGET_S for median, *_ in after.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
