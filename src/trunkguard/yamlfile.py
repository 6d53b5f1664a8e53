"""Reading the YAML files people hand to trunkguard (the config, simulation scenarios).

What is accepted is plain data: UTF-8 text; strings, numbers, booleans, null, lists and mappings
(YAML's standard scalar tags, no `!!binary`, `!!timestamp`, `!!set` or application tags); no key
twice in one mapping; at most `MAX_DEPTH` levels of nesting; at most `MAX_VALUES` values once
aliases are expanded (a "billion laughs" file is refused before anything walks it). Anything else
is a `YamlRefused` naming where and why, never a traceback: PyYAML's errors, a `RecursionError` and
a `UnicodeDecodeError` are translated here, at the boundary.

PyYAML's SafeLoader does the parsing; this adds the limits it lacks. An unquoted date such as
`2026-12-01` stays a string (SafeLoader would make it a `date` no field takes).
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

MAX_BYTES = 1 << 20  # a config or scenario is a few KiB; a 10 MB file took 8.8 s to check before this limit
MAX_DEPTH = 64
MAX_VALUES = 100_000
_STANDARD = "tag:yaml.org,2002:"
_ACCEPTED = {f"{_STANDARD}{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge")}
_AS_TEXT = {f"{_STANDARD}timestamp", f"{_STANDARD}value"}  # implicit ones: kept as the string written


class YamlRefused(ValueError):
    """A file that is not plain YAML data. `where`: `line L, column C`, or `(file)`."""

    def __init__(self, where: str, rule: str) -> None:
        super().__init__(f"{where}: {rule}")
        self.where = where
        self.rule = rule


def read_file(path: Path) -> bytes:
    """A config or scenario file's bytes, refused past MAX_BYTES before more is read. Raises OSError, and
    YamlRefused for a file too large."""
    with path.open("rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        size = path.stat().st_size
        raise YamlRefused("(file)", f"is {size / (1 << 20):.1f} MiB: a config or scenario file may be at most "
                                    f"{MAX_BYTES >> 20} MiB (long DID lists go in a dids_file, which may be large)")
    return data


def decode(data: bytes) -> str:
    """UTF-8 text (a byte-order mark is allowed and dropped). Raises YamlRefused."""
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            raise YamlRefused("(file)", f"is {name} text: save it as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise YamlRefused("(file)", f"is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                                    f"(line {line}); save it as UTF-8") from None
    if "\x00" in text:
        raise YamlRefused("(file)", f"contains a NUL byte at offset {text.index(chr(0))}: is it a binary file?")
    return text


def load_yaml(source: bytes | str) -> Any:
    """The data of one YAML document. Raises YamlRefused."""
    if len(source) > MAX_BYTES:
        raise YamlRefused("(file)", f"is more than {MAX_BYTES >> 20} MiB: a config or scenario file may be at most "
                                    f"{MAX_BYTES >> 20} MiB (long DID lists go in a dids_file, which may be large)")
    text = decode(source) if isinstance(source, bytes) else source
    try:
        data = yaml.load(text, Loader=_PlainLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise YamlRefused("(file)", f"nested deeper than {MAX_DEPTH} levels") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise YamlRefused(where, f"YAML syntax: {exc.problem or exc}") from None
    except yaml.reader.ReaderError as exc:
        raise YamlRefused("(file)", f"contains the character {exc.character!r} at offset {exc.position}, "
                                    "which YAML does not allow: is it a binary file?") from None
    except yaml.YAMLError as exc:
        raise YamlRefused("(file)", f"YAML syntax: {exc}") from None
    _count_values(data)
    return data


def _count_values(data: Any) -> None:
    """Walk the data as a reader will, aliases expanded, stopping at MAX_VALUES."""
    stack, seen = [data], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise YamlRefused("(file)", f"expands to more than {MAX_VALUES:,} values (aliases repeated "
                                        "within aliases?)")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class DepthLimitedLoader(yaml.SafeLoader):
    """SafeLoader's composer refusing nesting deeper than MAX_DEPTH (a ComposerError at the node that
    passes it). The config reader builds on it; the flow linter uses it as is, constructing nothing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _PlainLoader(DepthLimitedLoader):
    """SafeLoader with the limits above: depth, standard tags only, unique keys."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        node = super().compose_node(parent, index)
        if node is not None and node.tag not in _ACCEPTED:
            tag = node.tag.replace(_STANDARD, "!!")
            raise yaml.composer.ComposerError(None, None, f"the tag {tag} is not accepted: only plain strings, "
                                              "numbers, booleans, null, lists and mappings", node.start_mark)
        return node

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        tag: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return f"{_STANDARD}str" if tag in _AS_TEXT else tag

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
