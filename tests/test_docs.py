"""The docs stay true: the configuration reference matches the schema, every example loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trunkguard.config import load_config
from trunkguard.config_reference import render

ROOT = Path(__file__).resolve().parent.parent


def test_the_configuration_reference_is_generated_from_the_current_schema() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == render(), "run: trunkguard config reference > docs/configuration.md"


def test_the_shipped_json_schema_is_current_and_every_example_names_it() -> None:
    from trunkguard.config import json_schema

    shipped = json.loads((ROOT / "schema" / "trunkguard.schema.json").read_text())
    assert shipped == json_schema(), "run: trunkguard config schema > schema/trunkguard.schema.json"
    assert shipped["$id"] == "urn:trunkguard:config:v1"
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        first = example.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schema/trunkguard.schema.json", example.name


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
    docker = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in docker and "/healthz" in docker and "EXPOSE 8080" in docker
    assert 'VOLUME ["/var/lib/trunkguard"]' in docker
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["run", "--config", "/etc/trunkguard/trunkguard.yaml"]' in dockerfile
