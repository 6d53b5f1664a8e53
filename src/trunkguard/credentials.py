"""The one reader of secrets: each comes from the environment variable the config names (a `*_env`
key) or from the file it names (the `*_file` sibling), never from the config itself, and is never
logged. A named variable that is unset or empty, or a named file that is missing, unreadable or
empty, is a ConfigError naming the config field and the variable or path (never the content).

A relative `*_file` path is looked up in `$CREDENTIALS_DIRECTORY` when that is set (systemd's
`LoadCredential=` puts each credential there, readable by the service alone), and otherwise
beside the config file. A secret file holds the secret alone: one final newline (what `echo >`
leaves) is dropped; a file over 64 KiB, or not a regular file (a FIFO would block the read), is
refused rather than read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from trunkguard.errors import ConfigError

MAX_SECRET_FILE = 65_536  # bytes: a token or a key is far smaller; a larger file is the wrong file


def secret_path(path: Path, environ: Mapping[str, str], base_dir: Path | None = None) -> Path:
    """Where a `*_file` secret is read from: absolute as given; relative, in $CREDENTIALS_DIRECTORY
    when set, else beside the config file (`base_dir`), else in the working directory."""
    if path.is_absolute():
        return path
    credentials = environ.get("CREDENTIALS_DIRECTORY", "")
    if credentials:
        return Path(credentials) / path
    return (base_dir or Path()) / path


class Secrets:
    """Reads named variables and files from one environment, collecting every problem before failing."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, base_dir: Path | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self.base_dir = base_dir  # the config file's folder: where a relative *_file is, outside systemd
        self.problems: list[tuple[str, str]] = []

    def get(self, field: str, variable: str | None, why: str = "", *, file: Path | None = None) -> str | None:
        """The secret in `variable`, or in `file` (None when the config names neither). `field` is the
        dotted path of the `*_env` key; a problem with the file is noted against its `*_file` sibling.
        A problem is noted and None returned; `check()` raises them all at once."""
        because = f" ({why})" if why else ""
        if file is not None:
            where = field.removesuffix("_env") + "_file"
            value, problem = self._read(file)
            if problem:
                self.problems.append((where, problem + because))
            return value
        if variable is None:
            return None
        value = self.environ.get(variable, "")
        if not value:
            self.problems.append((field, f"environment variable {variable} is not set" + because))
            return None
        return value

    def _read(self, file: Path) -> tuple[str | None, str]:
        """(the secret, "") or (None, what is wrong with the file, naming its path and never its content)."""
        path = secret_path(file, self.environ, self.base_dir)
        try:
            info = path.stat()
        except FileNotFoundError:
            inside = " (relative paths are read from $CREDENTIALS_DIRECTORY, set by systemd's LoadCredential=)" \
                if not file.is_absolute() and self.environ.get("CREDENTIALS_DIRECTORY") else ""
            return None, f"{path} does not exist{inside}"
        except OSError as exc:
            return None, f"cannot read {path}: {exc.strerror or exc}"
        if not stat.S_ISREG(info.st_mode):
            return None, f"{path} is not a regular file"
        if info.st_size > MAX_SECRET_FILE:
            return None, f"{path} is larger than {MAX_SECRET_FILE // 1024} KiB: a secret file holds the secret alone"
        try:
            data = path.read_bytes()
        except OSError as exc:
            return None, f"cannot read {path}: {exc.strerror or exc}"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None, f"{path} is not UTF-8 text"
        text = text.removesuffix("\n").removesuffix("\r")
        if not text.strip():
            return None, f"{path} is empty"
        return text, ""

    def check(self) -> None:
        """Raise one ConfigError naming every secret that was missing."""
        if self.problems:
            problems, self.problems = self.problems, []
            raise ConfigError(problems, "environment")
