"""The package as users get it: the wheel built from this tree and installed into fresh virtual
environments, never the editable development install.

- On the oldest Python found (the oldest `requires-python` allows: 3.11), with every dependency at
  exactly the lowest version `pyproject.toml` declares (`pip install --constraint` of the floors),
  and the `postgres` extra: `--version`, `config check` and `probe` against SIPp, then the CLI's own
  tests run against that install.
- On the newest Python found (3.13 here), with the newest releases and no extra: the same commands,
  and a PostgreSQL store refused naming the `postgres` extra.

Both build a wheel and install from PyPI (pip's cache makes a second run quicker): slow, and part of
`make test`."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import Sipp

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
# The CLI's tests, run again on the lowest declared versions.
CLI_TESTS = ["tests/test_cli_habits.py", "tests/test_cli_probe.py", "tests/test_cli_contract.py"]


def _requirements(extra: str | None = None) -> list[Requirement]:
    found = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    return [Requirement(r) for r in found]


def floors() -> dict[str, str]:
    """Each declared dependency (and the postgres extra's) with the version its `>=` names."""
    out: dict[str, str] = {}
    for req in [*_requirements(), *_requirements("postgres")]:
        lowest = [s.version for s in req.specifier if s.operator == ">="]
        assert lowest, f"{req} declares no floor"
        out[req.name] = lowest[0]
    return out


def _python_minor(path: str) -> int | None:
    """The 3.x minor version of a working interpreter at `path` that can make virtual environments."""
    try:
        done = subprocess.run([path, "-c", "import sys, ensurepip, venv; print(sys.version_info[1])"],
                              capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    return int(done.stdout) if done.returncode == 0 and done.stdout.strip().isdigit() else None


def pythons() -> dict[int, str]:
    """The CPython 3 interpreters here that `requires-python` allows, by minor version: this test's own,
    those on PATH, pyenv's and the system's."""
    lowest = int(PROJECT["requires-python"].removeprefix(">=3."))
    pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    found = {sys.version_info[1]: sys.executable}
    for minor in range(lowest, 20):
        if minor in found:
            continue
        candidates = [shutil.which(f"python3.{minor}"), *sorted(glob.glob(f"{pyenv}/versions/3.{minor}.*/bin/python3")),
                      f"/usr/bin/python3.{minor}", f"/usr/local/bin/python3.{minor}"]
        for path in filter(None, candidates):
            if Path(path).exists() and _python_minor(path) == minor:
                found[minor] = path
                break
    return {m: p for m, p in sorted(found.items()) if m >= lowest}


@pytest.fixture(scope="session")
def interpreters() -> dict[int, str]:
    """At least this test's own interpreter: with no other, the oldest and the newest are the same one (the
    two tests still differ: declared floors with the extra, newest releases without it)."""
    return pythons()


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`build(python)`: the wheel of this tree for that interpreter, built once a session from a copy of
    the tree (the build writes its files beside the sources; the checkout is shared)."""
    folder = tmp_path_factory.mktemp("wheels")
    source = folder / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.so", "build"))
    built: dict[str, Path] = {}

    def wheel(python: str) -> Path:
        if python not in built:
            out = folder / f"dist-{len(built)}"
            env = {k: v for k, v in os.environ.items() if k not in ("TRUNKGUARD_PURE_PYTHON", "PYTHONPATH")}
            done = subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
                                  capture_output=True, text=True, timeout=900, check=False, env=env)
            assert done.returncode == 0, done.stderr[-3000:]
            [built[python]] = out.glob("trunkguard-*.whl")
        return built[python]

    return wheel


def _env(bin_dir: Path) -> dict[str, str]:
    """This environment for a process of the virtual environment: its bin first on PATH, and nothing that
    would import the checkout's sources instead of the installed wheel."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PYTEST_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def _venv(python: str, where: Path) -> Path:
    subprocess.run([python, "-m", "venv", str(where)], check=True, timeout=300)
    return where / "bin"


def _pip(bin_dir: Path, *args: str) -> None:
    done = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           *args], capture_output=True, text=True, timeout=900, check=False, env=_env(bin_dir))
    assert done.returncode == 0, done.stderr[-3000:]


def _run(bin_dir: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bin_dir / "trunkguard"), *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=cwd, env=_env(bin_dir))


def _the_three_commands(bin_dir: Path, sipp: Sipp) -> None:
    """`--version`, `config check` and `probe` from the installed wheel, its SIP hot path compiled."""
    version = _run(bin_dir, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"trunkguard {PROJECT['version']}", version
    checked = _run(bin_dir, "config", "check", str(ROOT / "examples" / "design-example.yaml"), "--json")
    assert checked.returncode == 0, checked.stderr
    assert [t["name"] for t in json.loads(checked.stdout)["trunks"]] == ["primary-1", "primary-2", "secondary-1"]
    probed = _run(bin_dir, "probe", sipp.uri, "--count", "2", "--interval", "100ms", "--json")
    assert probed.returncode == 0, probed.stderr
    answer = json.loads(probed.stdout)
    assert answer["ok"] is True and answer["passed"] == 2 and answer["results"][0]["code"] == 200, answer
    compiled = subprocess.run([str(bin_dir / "python"), "-c", "import trunkguard.sip.message as m; print(m.__file__)"],
                              capture_output=True, text=True, check=True, cwd="/", env=_env(bin_dir))
    assert compiled.stdout.strip().endswith(".so"), compiled.stdout


@pytest.mark.slow
@pytest.mark.sipp
def test_the_wheel_at_its_declared_floors_on_the_oldest_python(
        interpreters: dict[int, str], build: Callable[[str], Path], sipp_uas: Callable[..., Sipp],
        tmp_path: Path) -> None:
    oldest = interpreters[min(interpreters)]
    wheel = build(oldest)
    pins = floors()
    constraints = tmp_path / "floors.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
    bin_dir = _venv(oldest, tmp_path / "venv")
    _pip(bin_dir, "--constraint", str(constraints), f"{wheel}[postgres]", "pytest", "pytest-asyncio")
    installed = json.loads(subprocess.run(
        [str(bin_dir / "python"), "-c", "import importlib.metadata as m, json, sys; "
         "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))", *pins],
        capture_output=True, text=True, check=True, env=_env(bin_dir)).stdout)
    assert {n: Version(v) for n, v in installed.items()} == {n: Version(v) for n, v in pins.items()}
    _the_three_commands(bin_dir, sipp_uas("udp"))
    # the CLI's tests, against this install (not the checkout's src/: the tests import the installed package)
    tests = subprocess.run([str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "--basetemp", str(tmp_path / "pytest"), *CLI_TESTS],
                           capture_output=True, text=True, timeout=900, check=False, cwd=ROOT, env=_env(bin_dir))
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert re.search(r"\d+ passed", tests.stdout) and "site-packages/trunkguard" in subprocess.run(
        [str(bin_dir / "python"), "-c", "import trunkguard; print(trunkguard.__file__)"], capture_output=True,
        text=True, check=True, cwd=ROOT, env=_env(bin_dir)).stdout


@pytest.mark.slow
@pytest.mark.sipp
def test_the_wheel_on_the_newest_python_without_the_postgres_extra(
        interpreters: dict[int, str], build: Callable[[str], Path], sipp_uas: Callable[..., Sipp],
        tmp_path: Path) -> None:
    newest = interpreters[max(interpreters)]
    wheel = build(newest)
    assert f"-cp3{max(interpreters)}-" in wheel.name, wheel.name
    _wheel_contents(wheel)
    bin_dir = _venv(newest, tmp_path / "venv")
    _pip(bin_dir, str(wheel))
    _the_three_commands(bin_dir, sipp_uas("udp"))
    no_driver = subprocess.run([str(bin_dir / "python"), "-c", "import importlib.util as u; "
                                "print(u.find_spec('psycopg') is None)"], capture_output=True, text=True, check=True,
                               env=_env(bin_dir))
    assert no_driver.stdout.strip() == "True", "psycopg comes only with the postgres extra"
    config = tmp_path / "pg.yaml"
    config.write_text("""carriers:
  primary: {trunk_group_id: tg-a, trunks: [{name: a1, uri: "sip:127.0.0.1:5070"}]}
  secondary: {trunk_group_id: tg-b, trunks: [{name: b1, uri: "sip:127.0.0.1:5072"}]}
storage: {url: "postgresql://trunkguard@127.0.0.1:5432/trunkguard"}
api: {listen: "127.0.0.1:1", token_env: null}
""")
    refused = _run(bin_dir, "status", "--config", str(config))
    assert refused.returncode == 2, refused
    assert "no PostgreSQL driver (psycopg): pip install 'trunkguard[postgres]'" in refused.stderr, refused.stderr
    warned = _run(bin_dir, "config", "check", str(config))
    assert warned.returncode == 0 and "warning: storage.url: is a PostgreSQL store" in warned.stdout, warned


def _wheel_contents(wheel: Path) -> None:
    """One compiled library named for the project beside the package, the license, and the metadata."""
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    libraries = [n for n in top if n.endswith(".so")]
    assert len(libraries) == 1 and libraries[0].startswith("trunkguard__mypyc."), libraries
    assert top - set(libraries) == {"trunkguard", f"trunkguard-{PROJECT['version']}.dist-info"}, top
    meta = zipfile.ZipFile(wheel).read(f"trunkguard-{PROJECT['version']}.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in meta and "License-File: LICENSE" in meta
    assert f"trunkguard-{PROJECT['version']}.dist-info/licenses/LICENSE" in names
    assert "Project-URL: Homepage, https://github.com/trunkguard/trunkguard" in meta
    assert "Provides-Extra: postgres" in meta
    psycopg = [line for line in meta.splitlines() if line.startswith("Requires-Dist: psycopg")]
    assert psycopg and all('extra == "postgres"' in line or 'extra == "dev"' in line for line in psycopg), psycopg


def test_the_metadata_says_license_python_versions_and_where_the_project_lives() -> None:
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().split()[:3] == ["Apache", "License", "Version"]
    assert PROJECT["requires-python"] == ">=3.11"
    versions = [c.rsplit(" ", 1)[1] for c in PROJECT["classifiers"] if re.fullmatch(r".*Python :: 3\.\d+", c)]
    assert versions == ["3.11", "3.12", "3.13"]
    assert PROJECT["urls"]["Homepage"] == "https://github.com/trunkguard/trunkguard"
    assert "Changelog" in PROJECT["urls"] and (ROOT / "CHANGELOG.md").exists()
    assert not any(Requirement(r).name == "psycopg" for r in PROJECT["dependencies"])  # SQLite users need none
    assert any(Requirement(r).name == "psycopg" for r in PROJECT["optional-dependencies"]["dev"])  # make test has it
    assert set(floors()) >= {"typer", "pydantic", "sqlalchemy", "psycopg"}
