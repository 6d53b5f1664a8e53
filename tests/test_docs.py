"""The docs stay true: the configuration reference matches the schema, every example loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkguard.config import load_config
from trunkguard.config_reference import render

ROOT = Path(__file__).resolve().parent.parent


def test_the_configuration_reference_is_generated_from_the_current_schema() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render(), "run: trunkguard config reference > docs/configuration.md"


def test_the_reference_names_every_platform_key() -> None:
    text = render()
    for key in ("outbound_route_id", "datatable_id", "manage_trunk_enabled", "point_of_contact_id", "region"):
        assert f"| `{key}` |" in text


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.yaml")))
def test_every_example_configuration_loads(example: str) -> None:
    config = load_config(ROOT / "examples" / example)
    assert config.carriers.primary.trunks


def test_the_systemd_unit_and_dockerfile_run_the_daemon_with_a_config() -> None:
    unit = (ROOT / "deploy" / "trunkguard.service").read_text()
    assert "ExecStart=/usr/local/bin/trunkguard run --config /etc/trunkguard/trunkguard.yaml" in unit
    assert "EnvironmentFile=" in unit  # secrets come from the environment, not the config
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["run", "--config", "/etc/trunkguard/trunkguard.yaml"]' in dockerfile
