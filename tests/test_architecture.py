"""The shape the code keeps: a pure core, and a runtime of parts small enough to read in one sitting."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "trunkguard"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_core_imports_only_the_standard_library_and_itself() -> None:
    for path in sorted((SRC / "core").glob("*.py")):
        for module in _imports(path):
            top = module.split(".")[0]
            assert module.startswith("trunkguard.core") or top in sys.stdlib_module_names or top == "__future__", \
                f"{path.name} imports {module}: the core stays pure (no config, pydantic or I/O)"


def test_no_runtime_module_grows_past_about_250_lines() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in (SRC / "runtime").glob("*.py")}
    assert len(sizes) >= 8  # loop, lease, recorder, probes, pollers, actuator, status, parts, ...
    too_big = {name: n for name, n in sizes.items() if n > 260}
    assert not too_big, f"split these runtime modules: {too_big}"


def test_nothing_outside_the_runtime_reads_its_parts() -> None:
    """The API, the CLI and the demo read the published status and the store, not the runtime's parts."""
    for folder in ("api", "cli"):
        for path in (SRC / folder).glob("*.py"):
            text = path.read_text()
            assert "._parts" not in text and "runtime.parts" not in text, f"{folder}/{path.name} reads runtime parts"
