"""The one reader of secrets: each comes from the environment variable the config names, never from
the config itself, and is never logged. A variable that is named but unset or empty is a
ConfigError naming the config field and the variable (not its value)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from trunkguard.errors import ConfigError


class Secrets:
    """Reads named variables from one environment, collecting every missing one before failing."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self.problems: list[tuple[str, str]] = []

    def get(self, field: str, variable: str | None, why: str = "") -> str | None:
        """The secret in `variable` (None when the config names none). A named variable that is unset
        or empty is noted against `field` (a dotted config path), and None returned."""
        if variable is None:
            return None
        value = self.environ.get(variable, "")
        if not value:
            self.problems.append((field, f"environment variable {variable} is not set" + (f" ({why})" if why else "")))
            return None
        return value

    def check(self) -> None:
        """Raise one ConfigError naming every secret that was missing."""
        if self.problems:
            problems, self.problems = self.problems, []
            raise ConfigError(problems, "environment")

