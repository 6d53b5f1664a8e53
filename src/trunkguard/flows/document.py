"""Reading a flow file for the lint: Archy YAML, or an Architect export (JSON), kept as PyYAML nodes
so every finding can name its line and column.

Accepted:
- Archy YAML: one mapping whose top key is the flow type (`inboundCall:`, `inboundEmail:` ...),
  the format `archy publish` and CX as Code's `genesyscloud_flow` take.
- An Architect export as JSON, the flow document with `flowSequenceItemList` (what
  `GET /api/v2/flows/{id}/latestconfiguration` returns), plain or as the `.i3InboundFlow`-style
  file Architect's Export button writes: that JSON percent-encoded, then base64. Line and column
  then count in the decoded JSON.

Anything else is a `FlowUnreadable` naming where and why: not UTF-8 text, empty, a YAML or JSON
syntax error (line and column), or a document that is not a flow.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from trunkguard.yamlfile import MAX_DEPTH, DepthLimitedLoader, YamlRefused, decode

# Archy's top-level keys, one per flow type (the vendor's examples show the first six).
FLOW_TYPES = ("inboundCall", "inboundEmail", "inboundShortMessage", "inqueueCall", "outboundCall", "workflow",
              "inboundChat", "inqueueEmail", "inqueueShortMessage", "secureCall", "commonModule", "bot",
              "digitalBot", "voicemail", "voiceSurvey", "surveyInvite", "workitem")
CALL_FLOW_TYPES = frozenset({"inboundcall"})
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]{16,}$")


class FlowUnreadable(ValueError):
    """A file the lint cannot read as a flow. `line`/`column` are 1-based, None for the whole file."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(f"{where}{reason}")
        self.reason = reason
        self.line = line
        self.column = column


@dataclass(frozen=True)
class FlowDocument:
    """One flow: `body` is the node under the flow-type key (Archy) or the whole export (JSON)."""

    kind: Literal["archy-yaml", "export-json"]
    flow_type: str
    body: Node
    body_path: str
    type_node: Node
    decoded: bool = False

    @property
    def is_call_flow(self) -> bool:
        return self.flow_type.lower() in CALL_FLOW_TYPES


def read_flow(path: Path) -> FlowDocument:
    """The flow in `path`. Raises FlowUnreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlowUnreadable(f"cannot read: {exc.strerror or exc}") from None
    return parse_flow(data)


def parse_flow(data: bytes | str) -> FlowDocument:
    """The flow in `data` (the bytes of a file). Raises FlowUnreadable."""
    if isinstance(data, bytes):
        try:
            text = decode(data)
        except YamlRefused as exc:
            raise FlowUnreadable(f"{exc.rule}") from None
    else:
        text = data
    if not text.strip():
        raise FlowUnreadable("is empty: expected Archy YAML or an Architect export (JSON)")
    decoded = _decode_export(text)
    node = _compose(decoded if decoded is not None else text)
    return _flow_of(node, decoded=decoded is not None)


def _decode_export(text: str) -> str | None:
    """The JSON inside an Architect export file (base64 of percent-encoded JSON), or None."""
    if not _BASE64.match(text):
        return None
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith((b"%7B", b"%7b", b"{")):
        return None
    try:
        return urllib.parse.unquote(raw.decode("ascii"), errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None


def _compose(text: str) -> Node:
    """The YAML (or JSON) document as nodes with marks; JSON PyYAML cannot read goes through `json`
    and keeps no positions. Raises FlowUnreadable with the line and column of a syntax error."""
    loader = DepthLimitedLoader(text)
    try:
        node = loader.get_single_node()
    except RecursionError:
        raise FlowUnreadable(f"nested deeper than {MAX_DEPTH} levels") from None
    except yaml.MarkedYAMLError as exc:
        json_node = _json_node(text)
        if json_node is not None:
            return json_node
        mark = exc.problem_mark
        what = "JSON" if text.lstrip().startswith(("{", "[")) else "YAML"
        raise FlowUnreadable(f"not valid {what}: {exc.problem or exc}",
                             mark.line + 1 if mark else None, mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise FlowUnreadable(f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if node is None:
        raise FlowUnreadable("is empty: expected Archy YAML or an Architect export (JSON)")
    return node


def _json_node(text: str) -> Node | None:
    """Valid JSON that PyYAML refused (tabs, say), as nodes without marks; None when not JSON."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise FlowUnreadable(f"not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
        raise FlowUnreadable(f"nested deeper than {MAX_DEPTH} levels") from None
    node: Node = yaml.SafeDumper(io.StringIO()).represent_data(data)
    return node


def _flow_of(node: Node, *, decoded: bool) -> FlowDocument:
    if not isinstance(node, MappingNode):
        what = "a list" if isinstance(node, SequenceNode) else "one plain value, such as text"
        raise FlowUnreadable(f"not an Archy flow: no inboundCall/inboundEmail/… at the top (the file is {what}, "
                             "not a mapping)", *_position(node))
    keys = [(k.value, k, v) for k, v in node.value if isinstance(k, ScalarNode)]
    if any(name == "flowSequenceItemList" for name, _, _ in keys):
        flow_type = next((v.value for name, _, v in keys if name == "type" and isinstance(v, ScalarNode)), "unknown")
        type_node = next((k for name, k, _ in keys if name == "type"), node)
        return FlowDocument("export-json", str(flow_type), node, "", type_node, decoded)
    found = [(name, k, v) for name, k, v in keys if name in FLOW_TYPES]
    if not found:
        names = ", ".join(str(name) for name, _, _ in keys[:6]) or "nothing"
        raise FlowUnreadable(f"not an Archy flow: no inboundCall/inboundEmail/… at the top (found: {names})",
                             *_position(node))
    if len(found) > 1:
        raise FlowUnreadable(f"not one Archy flow: {' and '.join(n for n, _, _ in found)} at the top",
                             *_position(found[1][1]))
    name, key, body = found[0]
    if not isinstance(body, MappingNode):
        raise FlowUnreadable(f"{name} is not a mapping", *_position(body))
    return FlowDocument("archy-yaml", name, body, name, key, decoded)


def _position(node: Node) -> tuple[int | None, int | None]:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
