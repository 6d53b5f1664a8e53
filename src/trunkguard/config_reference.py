"""The configuration reference (docs/configuration.md), generated from the pydantic schema so it
cannot drift from what the loader accepts. `trunkguard config reference` prints it."""

from __future__ import annotations

import json
from typing import Any

from trunkguard.config import json_schema

INTRO = """# Configuration reference

Generated from the schema by `trunkguard config reference`; do not edit by hand
(`tests/test_docs.py` checks it is current). Every section refuses unknown keys. Durations take
seconds as a number or a string such as `500ms`, `15s`, `5m`. Secrets are never inline: keys
ending in `_env` name the environment variable holding the value, or their `_file` siblings name a
file holding it (one of the two); a relative `_file` path is read from `$CREDENTIALS_DIRECTORY`
when systemd sets it (`LoadCredential=`), else beside the config file. `trunkguard config check FILE`
validates a file and names each bad field with its rule; `trunkguard config schema` prints the
JSON Schema for editors.
"""


def render() -> str:
    schema = json_schema()
    defs: dict[str, Any] = schema["$defs"]
    out = [INTRO]
    order: list[tuple[str, str]] = [("(top level)", "")]
    seen: set[str] = set()
    sections: dict[str, dict[str, Any]] = {"(top level)": schema}
    also: dict[str, list[str]] = {}

    def walk(model: dict[str, Any], path: str) -> None:
        subs = list(model.get("patternProperties", {}).values())  # a mapping by name (carriers)
        named = {"<name>": subs[0]} if subs else {}
        for key, prop in {**model.get("properties", {}), **named}.items():
            for part in prop.get("anyOf", []):  # a mapping by name that may be left out (groups)
                if "patternProperties" in part:
                    walk(part, f"{path}.{key}" if path else key)
            for ref in _refs(prop):
                where = f"{path}.{key}" if path else key
                if prop.get("type") == "array" or "items" in prop:
                    where += "[]"
                if ref in seen:
                    also.setdefault(ref, []).append(where)
                else:
                    seen.add(ref)
                    order.append((ref, where))
                    sections[ref] = defs[ref]
                    walk(defs[ref], where)

    walk(schema, "")
    for name, where in order:
        model = sections[name]
        title = "Top level" if name == "(top level)" else f"`{where}` ({name})"
        out.append(f"\n## {title}\n")
        if also.get(name):
            out.append("Also at " + ", ".join(f"`{w}`" for w in also[name]) + ".\n")
        if model.get("description") and name != "(top level)":
            out.append(" ".join(model["description"].split()) + "\n")
        out.append("| key | type | default | rules and meaning |\n|---|---|---|---|")
        required = set(model.get("required", []))
        for key, prop in model.get("properties", {}).items():
            default = "required" if key in required else _default(prop.get("default"))
            out.append(f"| `{key}` | {_type(prop)} | {default} | {_rules(prop)} |")
    return "\n".join(out) + "\n"


def _refs(prop: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for part in (prop, prop.get("items") or {}, *prop.get("anyOf", []), *prop.get("oneOf", []),
                 *((prop.get("items") or {}).get("oneOf", []))):
        ref = part.get("$ref")
        if ref:
            found.append(ref.rsplit("/", 1)[-1])
    return found


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return f"section `{prop['$ref'].rsplit('/', 1)[-1]}`"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if prop.get("type") == "array":
        items = prop.get("items") or {}
        inner = " \\| ".join(f"`{r}`" for r in _refs(prop)) if _refs(prop) else _type(items)
        return f"list of {inner}"
    return str(prop.get("type", "any"))


def _default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, dict) and "ranges" in value:
        return "`" + ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in value["ranges"]) + "`"
    return f"`{json.dumps(value)}`"


def _rules(prop: dict[str, Any]) -> str:
    parts: list[str] = []
    if prop.get("description"):
        parts.append(" ".join(str(prop["description"]).split()))
    for p in (prop, *prop.get("anyOf", [])):
        for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("minLength", "length >="),
                          ("minItems", "items >=")):
            if key in p:
                parts.append(f"{word} {p[key]}")
        if "pattern" in p:
            parts.append(f"pattern `{p['pattern']}`".replace("|", "\\|"))
    return "; ".join(parts).replace("\n", " ")
