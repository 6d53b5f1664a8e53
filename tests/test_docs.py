"""The docs stay true: the configuration reference matches the schema, every example loads."""

from __future__ import annotations

import json
import re
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
    assert config.carriers.first.trunks and len(config.carriers.chain) >= 2


def test_the_systemd_unit_and_dockerfile_run_the_daemon_with_a_config() -> None:
    unit = (ROOT / "deploy" / "trunkguard.service").read_text()
    assert "ExecStart=/usr/local/bin/trunkguard run --config /etc/trunkguard/trunkguard.yaml" in unit
    # the config is checked, and every secret it names, before the daemon starts
    assert "ExecStartPre=/usr/local/bin/trunkguard config check --env /etc/trunkguard/trunkguard.yaml" in unit
    assert "EnvironmentFile=" in unit  # secrets come from the environment, not the config
    docker = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in docker and "/healthz" in docker and "EXPOSE 8080" in docker
    assert 'VOLUME ["/var/lib/trunkguard"]' in docker
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["run", "--config", "/etc/trunkguard/trunkguard.yaml"]' in dockerfile


DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_docs_stay_inside_the_repository_and_their_paths_exist() -> None:
    """No link into a folder beside the checkout (../shared); every relative link resolves, and every path of
    this repository the top-level docs name exists."""
    for doc in DOCS:
        text = doc.read_text()
        assert "../shared" not in text and "/work/" not in text, doc.name
        for target in re.findall(r"\]\(([^)#\s]+)[^)]*\)", text):
            if not re.match(r"[a-z]+:", target):
                assert (doc.parent / target).exists(), (doc.name, target)
    for doc in (ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "docs" / "troubleshooting.md"):
        for path in re.findall(r"`((?:docs|deploy|examples|bench|schema|src|tests)/[\w./-]+)", doc.read_text()):
            assert (ROOT / path.rstrip(".")).exists(), (doc.name, path)


def test_the_readme_points_newcomers_to_install_troubleshooting_and_the_changelog() -> None:
    readme = (ROOT / "README.md").read_text()
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "pipx install" in install and "pip wheel" in install and "docker run" in install
    assert "'trunkguard[postgres]'" in readme or "[postgres]" in install
    assert "docs/troubleshooting.md" in readme and "CHANGELOG.md" in readme and "docs/guide.md" in readme
    assert "make demo" in readme and "make test" in readme  # the two commands stay
    assert "session" not in readme.lower(), "history goes to CHANGELOG.md"


def _source_text() -> str:
    """trunkguard's source with adjacent string literals joined and rich markup dropped, to look words up in."""
    text = "\n".join(p.read_text() for p in sorted((ROOT / "src" / "trunkguard").rglob("*.py")))
    text = re.sub(r"[\"']\s*(?:\\\s*)?\n\s*[rf]?[\"']", "", text)  # "..."\n  f"..." and "..." \\\n "..."
    text = re.sub(r"\[/?(?:bold|yellow|green|red|dim|cyan|magenta)?\]", "", text)
    return text.replace("{CONFIG_ENV}", "TRUNKGUARD_CONFIG")


def test_every_message_in_the_troubleshooting_table_is_one_trunkguard_prints() -> None:
    source = _source_text()
    rows = [line for line in (ROOT / "docs" / "troubleshooting.md").read_text().splitlines()
            if line.startswith("| `")]
    assert len(rows) >= 25
    for row in rows:
        first = re.split(r"(?<!\\)\|", row)[1]
        messages = re.findall(r"``(.+?)``|`([^`]+)`", first)
        for message in [a or b for a, b in messages]:
            for piece in re.split(r"\(\.\.\.\)|\.\.\.", message.replace("\\|", "|")):
                piece = piece.strip(" :;")
                if len(piece) >= 5:
                    assert piece in source, (piece, row)


def test_every_config_key_says_what_it_is() -> None:
    """A key without a description is a key a newcomer must guess at (docs/configuration.md shows them)."""
    import typing

    from pydantic import BaseModel

    from trunkguard.config import Config

    missing: list[str] = []

    def walk(model: type[BaseModel], prefix: str, seen: set[type[BaseModel]]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            path = f"{prefix}.{field.alias or name}" if prefix else field.alias or name
            if not field.description:
                missing.append(path)
            stack: list[object] = [field.annotation]
            while stack:
                ann = stack.pop()
                if isinstance(ann, type) and issubclass(ann, BaseModel):
                    walk(ann, path, seen)
                else:
                    stack.extend(typing.get_args(ann))

    walk(Config, "", set())
    assert missing == [], f"keys without a description: {missing}"
