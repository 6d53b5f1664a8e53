"""The CLI's habits: where it finds the config, how it prints times and choices."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trunkguard.cli import app
from trunkguard.core.failover import PairSnapshot
from trunkguard.store import Store

CONFIG = """carriers:
  primary: {trunk_group_id: tg-a, trunks: [{name: a1, uri: "sip:127.0.0.1:5070"}]}
  secondary: {trunk_group_id: tg-b, trunks: [{name: b1, uri: "sip:127.0.0.1:5072"}]}
storage: {url: "sqlite:///%s/tg.db"}
api: {listen: "127.0.0.1:1", token_env: null}
"""


def _store_with_a_decision(folder: Path) -> None:
    store = Store.open(f"sqlite:///{folder}/tg.db")
    term = store.acquire_lease("t/h/1/x", ttl=1)
    assert term is not None
    store.save(term, 1_700_000_000.25, PairSnapshot(), kind="cycle", sentence="no action: primary carrier healthy")
    store.close()


def test_the_config_is_found_by_flag_environment_or_default_path(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    mp = monkeypatch
    (tmp_path / "trunkguard.yaml").write_text(CONFIG % tmp_path)
    _store_with_a_decision(tmp_path)
    runner = CliRunner()
    mp.delenv("TRUNKGUARD_CONFIG", raising=False)
    mp.chdir(tmp_path)  # ./trunkguard.yaml
    found = runner.invoke(app, ["history", "--json"])
    assert found.exit_code == 0, found.output
    [decision] = json.loads(found.stdout)["decisions"]
    assert decision["at"] == "2023-11-14T22:13:20.250Z"  # ISO 8601 in UTC, not epoch seconds
    mp.chdir(tmp_path.parent)
    missing = runner.invoke(app, ["history"])
    assert missing.exit_code == 2
    assert "no configuration: give --config FILE or set TRUNKGUARD_CONFIG" in missing.output
    by_env = runner.invoke(app, ["history", "--json"], env={"TRUNKGUARD_CONFIG": str(tmp_path / "trunkguard.yaml")})
    assert by_env.exit_code == 0 and "no action: primary carrier healthy" in by_env.stdout
    stored = runner.invoke(app, ["status", "--json", "--config", str(tmp_path / "trunkguard.yaml")])
    assert stored.exit_code == 3, stored.output  # the stored view only: the daemon did not answer
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", json.loads(stored.stdout)["stored_at"])


def test_help_lists_choices_and_the_config_variable() -> None:
    runner = CliRunner()
    text = runner.invoke(app, ["run", "--help"], terminal_width=200).output
    assert "text|json" in text and "TRUNKGUARD_CONFIG" in text
    sweep = runner.invoke(app, ["sweep", "--help"], terminal_width=200).output
    assert "a carrier's name" in sweep and "the second of the chain" in sweep  # any carrier of a chain


def test_cycle_refuses_a_bad_deadline_as_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["cycle", "--config", "examples/cxone.yaml", "--deadline", "soon"])
    assert result.exit_code == 2 and "--deadline: 'soon' is not a duration" in result.output
