"""The CLI at home in its users' tools (issue 26): it starts without the store or the daemon, its help
has examples and groups, it completes in the shell, prints plain columns into pipes, says `ok` one way
in every --json output, names the field of every warning, and checks the environment for systemd."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import free_port
from trunkguard.cli import app, output

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "examples" / "design-example.yaml"
# Nothing of these may load before a command needs it: the store (SQLAlchemy, Alembic) and the daemon.
HEAVY = ("sqlalchemy", "alembic", "httpx", "starlette", "uvicorn", "psycopg", "trunkguard.store", "trunkguard.app",
         "trunkguard.runtime", "trunkguard.api")
CONFIG = """carriers:
  primary: {trunk_group_id: tg-a, trunks: [{name: a1, uri: "sip:127.0.0.1:5070"}]}
  secondary: {trunk_group_id: tg-b, trunks: [{name: b1, uri: "sip:127.0.0.1:5072"}]}
storage: {url: "%s"}
api: {listen: "127.0.0.1:%d", token_env: null}
"""


def _loaded(*args: str) -> set[str]:
    """The modules `trunkguard ARGS` imports, from `python -X importtime`."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "trunkguard", *args], capture_output=True,
                          text=True, check=False, timeout=60)
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("args", [
    ["--version"], ["--help"],
    ["config", "check", str(DESIGN)],
    ["probe", "sip:127.0.0.1:9", "--timeout", "100ms"]], ids=["--version", "--help", "config check", "probe"])
def test_starting_a_command_imports_neither_the_store_nor_the_daemon(args: list[str]) -> None:
    loaded = _loaded(*args)
    assert "trunkguard.cli" in loaded
    assert not {m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)}, sorted(
        m for m in loaded if m.startswith(HEAVY))
    if args == ["--version"]:  # the version needs neither the config's models nor rich
        assert "pydantic" not in loaded and "rich" not in loaded


def test_help_groups_the_commands_and_every_command_has_examples() -> None:
    runner = CliRunner()
    root = runner.invoke(app, ["--help"], terminal_width=200).output
    for panel in ("Check the carriers", "Operate the running daemon", "Run", "Rehearse and replay",
                  "Configure and set up"):
        assert panel in root, root
    assert "Examples:" in root and "$ trunkguard config check trunkguard.yaml" in root
    commands = [c.name for c in app.registered_commands]
    groups = {g.name: g.typer_instance for g in app.registered_groups}
    assert "status" in commands and "completion" in commands and set(groups) == {"config", "flows", "bench", "lab"}
    paths = [[name] for name in commands] + [[group, c.name] for group, sub in groups.items()
                                            for c in sub.registered_commands]
    for path in paths:
        text = runner.invoke(app, [*path, "--help"], terminal_width=200).output
        assert "Examples:" in text and f"$ trunkguard {path[0]}" in text, (path, text)


def test_bash_completes_commands_and_choices() -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash here")
    script = subprocess.run([sys.executable, "-m", "trunkguard", "completion", "bash"], capture_output=True,
                            text=True, check=True).stdout
    assert "complete -o default -F _trunkguard_completion trunkguard" in script

    def complete(tmp: Path, *words: str) -> list[str]:
        """What bash offers after WORDS (the last one being completed), from the script `completion bash`
        printed; the script calls `trunkguard` by name: this interpreter's, through a wrapper on PATH."""
        wrapper = tmp / "trunkguard"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m trunkguard "$@"\n')
        wrapper.chmod(0o755)
        line = " ".join(f"'{w}'" for w in words)
        run = subprocess.run([bash, "-c", f'source /dev/stdin; COMP_WORDS=({line}); '
                                          f'COMP_CWORD={len(words) - 1}; _trunkguard_completion trunkguard; '
                                          'printf "%s\\n" "${COMPREPLY[@]}"'],
                             input=script, capture_output=True, text=True, check=True, timeout=60,
                             env={"PATH": f"{tmp}:/usr/bin:/bin"})
        return run.stdout.split()

    with tempfile.TemporaryDirectory() as tmp:
        assert complete(Path(tmp), "trunkguard", "sta") == ["status"]
        assert complete(Path(tmp), "trunkguard", "demo", "--profile", "") == ["fast", "guide"]
        assert complete(Path(tmp), "trunkguard", "completion", "") == ["bash", "zsh", "fish"]
        assert "--strict" in complete(Path(tmp), "trunkguard", "config", "check", "--")


@pytest.mark.parametrize(("shell", "registers"), [("zsh", "compdef _trunkguard_completion trunkguard"),
                                                  ("fish", "complete --command trunkguard")])
def test_zsh_and_fish_scripts_complete_trunkguard(shell: str, registers: str) -> None:
    result = CliRunner().invoke(app, ["completion", shell])
    assert result.exit_code == 0 and registers in result.output and "_TRUNKGUARD_COMPLETE" in result.output
    assert CliRunner().invoke(app, ["completion", "tcsh"]).exit_code == 2


def test_tables_are_plain_columns_off_a_terminal_and_boxed_on_one(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rows = [["primary", "a1", "up"], ["secondary", "b-long-name", "down"]]
    monkeypatch.setattr(output, "is_terminal", lambda: False)
    output.print_table(output.console(), ["carrier", "trunk", "state"], rows)
    plain = capsys.readouterr().out.splitlines()
    assert plain == ["carrier    trunk        state", "primary    a1           up", "secondary  b-long-name  down"]
    monkeypatch.setattr(output, "is_terminal", lambda: True)
    output.print_table(output.console(), ["carrier", "trunk", "state"], rows)
    assert "─" in capsys.readouterr().out


STATUS: dict[str, Any] = {
    "headline": {"calls": "Calls go to the primary carrier (tg-a)"}, "active": "primary", "active_trunk_group": "tg-a",
    "state": "primary_active", "leader": True, "term": 4, "in_flight": None,
    "lease": {"holder": "r1/h/1/x", "term": 4, "left_s": 8.0}, "replica": {"holder": "r1/h/1/x"},
    "replicas": [{"holder": "r1/h/1/x", "name": "r1", "kind": "replica", "host": "h", "pid": 1, "age_s": 0.5},
                 {"holder": "r2/h/2/y", "name": "r2", "kind": "replica", "host": "h", "pid": 2, "age_s": 1.5}],
    "vantages": None,
    "carriers": {"primary": {"trunks": [{"name": "a1", "state": "up", "media_ok": True, "usable": True,
                                         "last_detail": "200 OK in 0.4 ms", "samples": [{"rtt_ms": 0.4}]}]},
                 "secondary": {"trunks": [{"name": "b1", "state": "down", "media_ok": None, "usable": False,
                                           "last_detail": "no answer", "samples": [{"rtt_ms": None}]}]}},
    "queued_activation": None, "pending_approval": None, "paused": None,
    "last_sentence": "no action: primary carrier healthy",
}


@pytest.fixture
def fake_daemon() -> Iterator[int]:
    """An API answering /api/v1/status as the daemon does (the fields `trunkguard status` reads)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(STATUS).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_status_into_a_pipe_prints_plain_columns(tmp_path: Path, fake_daemon: int) -> None:
    config = tmp_path / "tg.yaml"
    config.write_text(CONFIG % (f"sqlite:///{tmp_path}/tg.db", fake_daemon))
    done = subprocess.run([sys.executable, "-m", "trunkguard", "status", "--config", str(config)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert not any(ch in done.stdout for ch in "─│┃━┏┡╭"), done.stdout
    assert any(line.split() == ["name", "kind", "host", "pid", "id", "heard", "role"] for line in lines), lines
    header = next(line for line in lines if line.startswith("carrier "))
    assert header.split("  ")[0] == "carrier" and "rtt ms (last 5)" in header
    row = next(line for line in lines if line.startswith("secondary"))
    assert row.index("b1") == header.index("trunk") and row.index("down") == header.index("state")
    assert "NO: SIP down" in row
    assert lines[0] == "Calls go to the primary carrier (tg-a)." and lines[-1].startswith("last decision: ")


def _oks(value: Any) -> list[Any]:
    """Every value under an `ok` key, anywhere in a JSON document."""
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "ok"] + [x for v in value.values() for x in _oks(v)]
    if isinstance(value, list):
        return [x for v in value for x in _oks(v)]
    return []


def test_ok_is_a_boolean_in_every_json_output(tmp_path: Path) -> None:
    from trunkguard.store import Store

    Store.open(f"sqlite:///{tmp_path}/tg.db").close()
    config = tmp_path / "tg.yaml"
    config.write_text(CONFIG % (f"sqlite:///{tmp_path}/tg.db", 1))
    flow = tmp_path / "flow.yaml"
    flow.write_text("inboundCall:\n  name: Main\n  startUpRef: ./menus/menu[m]\n")
    runs = {
        "probe": (["probe", f"sip:127.0.0.1:{free_port()}", "--timeout", "100ms", "--count", "2", "--json"], 1),
        "config check": (["config", "check", str(DESIGN), "--json"], 0),
        "config check (bad)": (["config", "check", str(ROOT / "tests/configs/bad/bad_duration.yaml"), "--json"], 2),
        "failover --queue": (["failover", "--config", str(config), "--queue", "--force", "--reason", "drill",
                              "--json"], 0),
        "flows lint": (["flows", "lint", str(flow), "--json"], None),
    }
    for name, (args, code) in runs.items():
        done = subprocess.run([sys.executable, "-m", "trunkguard", *args], capture_output=True, text=True,
                              check=False, timeout=60)
        assert code is None or done.returncode == code, (name, done.stdout, done.stderr)
        oks = _oks(json.loads(done.stdout))
        assert oks and all(type(ok) is bool for ok in oks), (name, done.stdout)
    probe = subprocess.run([sys.executable, "-m", "trunkguard", *runs["probe"][0]], capture_output=True, text=True,
                           check=False, timeout=60)
    data = json.loads(probe.stdout)
    assert data["ok"] is False and data["sent"] == 2 and data["passed"] == 0  # the count has its own name


def test_config_check_json_gives_warnings_as_path_and_rule_like_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "flappy.yaml"
    path.write_text("""carriers:
  primary:
    trunk_group_id: tg-a
    health: {down_after: 1}
    trunks: [{name: a1, uri: "sip:127.0.0.1:5070;transport=tls", tls: {ca_file: missing-ca.pem}}]
  secondary:
    trunk_group_id: tg-b
    dids_file: missing-dids.txt
    trunks: [{name: b1, uri: "sip:127.0.0.1:5072"}]
""")
    result = CliRunner().invoke(app, ["config", "check", str(path), "--json"])
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    assert all(set(w) == {"path", "rule"} for w in warnings), warnings
    paths = [w["path"] for w in warnings]
    assert "carriers.primary.health.down_after" in paths
    assert "carriers.primary.trunks[0].tls.ca_file" in paths and "carriers.secondary.dids_file" in paths
    strict = CliRunner().invoke(app, ["config", "check", str(path), "--json", "--strict"])
    assert strict.exit_code == 2 and json.loads(strict.stdout)["problems"] == warnings  # the same, now errors
    text = CliRunner().invoke(app, ["config", "check", str(path)]).output
    assert f"warning: carriers.primary.trunks[0].tls.ca_file: {tmp_path}/missing-ca.pem does not exist" in text


def test_config_check_env_names_every_unset_secret_and_never_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["TRUNKGUARD_CLIENT_ID", "TRUNKGUARD_CLIENT_SECRET", "TRUNKGUARD_API_TOKEN", "PD_ROUTING_KEY",
             "SLACK_WEBHOOK_URL"]
    for name in names:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRUNKGUARD_CLIENT_ID", "id-value-1")
    monkeypatch.setenv("PD_ROUTING_KEY", "")  # set but empty counts as unset
    missing = CliRunner().invoke(app, ["config", "check", str(DESIGN), "--env", "--json"])
    assert missing.exit_code == 2
    assert json.loads(missing.stdout) == {"ok": False, "problems": [
        {"path": "platform.client_secret_env", "rule": "environment variable TRUNKGUARD_CLIENT_SECRET is not set"},
        {"path": "api.token_env", "rule": "environment variable TRUNKGUARD_API_TOKEN is not set"},
        {"path": "notify[0].routing_key_env", "rule": "environment variable PD_ROUTING_KEY is not set"},
        {"path": "notify[1].webhook_url_env", "rule": "environment variable SLACK_WEBHOOK_URL is not set"}]}
    for name in names:
        monkeypatch.setenv(name, f"secret-of-{name}")
    found = CliRunner().invoke(app, ["config", "check", str(DESIGN), "--env"])
    assert found.exit_code == 0, found.output
    assert "environment: every secret the config names is set (PD_ROUTING_KEY, SLACK_WEBHOOK_URL, " in found.output
    assert "secret-of-" not in found.output
    as_json = json.loads(CliRunner().invoke(app, ["config", "check", str(DESIGN), "--env", "--json"]).stdout)
    assert {"path": "platform.client_id_env", "variable": "TRUNKGUARD_CLIENT_ID", "set": True} in as_json["secrets"]
    # without --env nothing is read from the environment
    monkeypatch.delenv("TRUNKGUARD_API_TOKEN")
    assert CliRunner().invoke(app, ["config", "check", str(DESIGN)]).exit_code == 0


def test_status_showing_only_the_stored_view_exits_3(tmp_path: Path) -> None:
    from trunkguard.core.failover import PairSnapshot
    from trunkguard.store import Store

    store = Store.open(f"sqlite:///{tmp_path}/tg.db")
    term = store.acquire_lease("t/h/1/x", ttl=1)
    assert term is not None
    store.save(term, 1_700_000_000.0, PairSnapshot(), kind="cycle", sentence="no action: primary carrier healthy")
    store.close()
    config = tmp_path / "tg.yaml"
    config.write_text(CONFIG % (f"sqlite:///{tmp_path}/tg.db", free_port()))
    for args in (["status"], ["status", "--json"]):
        result = CliRunner().invoke(app, [*args, "--config", str(config)], terminal_width=200)
        assert result.exit_code == 3, result.output
        assert "stored view" in result.output or json.loads(result.stdout)["source"] == "store"
    (tmp_path / "tg.db").unlink()  # neither the daemon nor the store: 1
    assert CliRunner().invoke(app, ["status", "--config", str(config)]).exit_code == 1


def test_a_postgresql_store_without_its_driver_names_the_extra(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if `trunkguard[postgres]` were not installed
    config = tmp_path / "tg.yaml"
    config.write_text(CONFIG % ("postgresql://tg@127.0.0.1/tg", free_port()))
    runner = CliRunner()
    for args in (["status"], ["history"], ["cycle"], ["run"], ["replay"]):
        result = runner.invoke(app, [*args, "--config", str(config)])
        assert result.exit_code == 2, (args, result.output)
        assert "storage.url: is a PostgreSQL store, and this install has no PostgreSQL driver (psycopg): " \
               "pip install 'trunkguard[postgres]'" in result.output, (args, result.output)
    checked = runner.invoke(app, ["config", "check", str(config), "--json"])
    assert checked.exit_code == 0 and {"path": "storage.url", "rule": "is a PostgreSQL store, and this install has "
                                       "no PostgreSQL driver (psycopg): pip install 'trunkguard[postgres]'"} \
        in json.loads(checked.stdout)["warnings"]


def test_the_lint_rules_named_in_help_are_the_linters_rules() -> None:
    from trunkguard.cli.flows_cmd import RULE_NAMES
    from trunkguard.flows.lint import RULES

    assert tuple(RULES) == RULE_NAMES
