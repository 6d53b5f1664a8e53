"""Validation errors said for people: a rule broken by one field (`FieldRule`), and pydantic's errors as
(dotted field path, rule) pairs, with "did you mean" for a misspelt key. Shared by the config file and
the simulation scenario, which are validated the same way."""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel, ValidationError


class FieldRule(ValueError):
    """A rule broken by one field of the model being validated; the error path names it."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(rule)
        self.field = field
        self.rule = rule


_BOUNDS = {"greater_than": ("more than", "gt"), "greater_than_equal": ("at least", "ge"),
           "less_than": ("less than", "lt"), "less_than_equal": ("at most", "le")}


def describe(exc: ValidationError, root: type[BaseModel]) -> list[tuple[str, str]]:
    """Pydantic's errors as (dotted field path, rule) pairs an operator can act on; `root` is the model
    validated (its keys are what a misspelt key is matched against)."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        loc = [part for part in error["loc"] if not _is_union_tag(part)]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldRule):
            problems.append((_join(loc, cause.field), cause.rule))
            continue
        message = error["msg"]
        bound = _BOUNDS.get(error["type"])
        if bound is not None:  # "must be at most 100, not 1000": the bound and the value given
            word, key = bound
            message = f"must be {word} {(error.get('ctx') or {}).get(key)}, not {error.get('input')!r}"
        elif error["type"] == "extra_forbidden":
            message = "unknown key" + _did_you_mean(loc, root)
        elif error["type"] == "missing":
            message = "is required"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        problems.append((_join(loc, None), message))
    return problems


def _did_you_mean(loc: list[int | str], root: type[BaseModel]) -> str:
    """`; did you mean 'interval'?` for a misspelt key, from the keys its section accepts."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        fields = getattr(model, "model_fields", {})
        field = fields.get(part, fields.get("root"))  # a RootModel (a mapping by name): its values' section
        if field is not None:
            model = _section_of(field.annotation)
        # else a key of a dict of sections by name (groups), whose section _section_of has reached already
    keys = list(getattr(model, "model_fields", {})) if model is not None else []
    close = difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else (f" (the keys here: {', '.join(keys)})" if keys else "")


def _section_of(annotation: Any) -> Any:
    """The Section model an annotation holds (through Optional, list[...], dict values, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _section_of(arg)
        if found is not None:
            return found
    return None


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and part in {"pagerduty", "opsgenie", "slack", "webhook"}


def _join(loc: list[int | str], field: str | None) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if field:
        text = f"{text}.{field}" if text and not field.startswith("[") else f"{text}{field}"
    return text or "(top)"
