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


def _modules() -> dict[str, set[str]]:
    return {str(p.relative_to(SRC)): _imports(p) for p in SRC.rglob("*.py")}


def _reads_config(path: str) -> bool:
    """The wiring may read the config: app.py and rules.py (the composition root and the frozen values it
    builds), the CLI, and the config's own modules (config.py, config_errors, config_advice, config_checks,
    config_reference)."""
    return path in ("app.py", "rules.py") or path.startswith(("cli/", "config"))


def test_only_the_wiring_imports_the_config() -> None:
    for path, imports in _modules().items():
        if not _reads_config(path):
            assert "trunkguard.config" not in imports, \
                f"{path} imports the config: take frozen values built in rules.py or app.py instead"


def test_the_config_imports_nothing_that_acts() -> None:
    for path, imports in _modules().items():
        if path.startswith("config"):
            acting = sorted(m for m in imports if m.startswith(("trunkguard.actuation", "trunkguard.runtime",
                                                                  "trunkguard.probing", "trunkguard.notify"))
                            and path == "config.py")
            assert not acting, f"{path} imports {acting}: the config describes, the wiring builds"


def test_the_published_view_is_read_not_the_machine() -> None:
    """API, metrics, CLI and cycle read the StatusView; the machine's state and rules stay in the runtime."""
    for folder in ("api", "cli"):
        for path in (SRC / folder).glob("*.py"):
            text = path.read_text()
            for inside in ("status().state", "status().rules", ".state.trunks", "MachineState"):
                assert inside not in text, f"{folder}/{path.name} reads the machine's insides ({inside})"


def test_runtime_status_and_the_header_form_no_cycle() -> None:
    modules = _modules()
    assert not any(m.startswith("trunkguard.api") for m in modules["runtime/status.py"])
    assert "trunkguard.runtime.status" in modules["api/headline.py"]


def test_errors_live_in_one_module() -> None:
    """Every exception trunkguard raises on purpose is defined in errors.py (others import it from there)."""
    import ast as _ast

    # Control flow inside one module, never raised to a caller: the token endpoint's retry signal, the body
    # limit's early exit, and the CLI's "neither the daemon nor the store answers".
    internal = {"actuation/http.py:_TokenRetry", "api/limits.py:BodyTooLarge", "cli/ops_cmd.py:Unreachable"}
    defined_elsewhere = []
    for path in SRC.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in _ast.walk(_ast.parse(path.read_text())):
            if isinstance(node, _ast.ClassDef) and any(
                    isinstance(b, _ast.Name) and b.id in ("TrunkguardError", "Exception", "PlatformError", "StoreError",
                                                          "SipError", "LeaseError") for b in node.bases):
                defined_elsewhere.append(f"{path.relative_to(SRC)}:{node.name}")
    assert sorted(set(defined_elsewhere) - internal) == [], defined_elsewhere
