"""What in a contact-center flow breaks when the carrier changes (the guide's section 4 traps).

Each rule names the path inside the file, with its line and column:

- `hardcoded-trunk`: a trunk name, a trunk base id (a carrier's `trunk_group_id`) or a trunk's
  host from the config, or a name given with `--trunk`. The flow then behaves differently, or
  not at all, when the other carrier delivers the call.
- `trunk-variable`: `system.trunk.name`, `system.trunk.group.name`, `Call.Trunk...`: Architect has
  no variable naming the trunk a call came in on (the guide's "fix" does not exist either); any
  such expression names the carrier of the day.
- `sip-header`: a Get SIP Headers action, or an expression reading a header carriers set
  differently (`X-...`, `P-Asserted-Identity`, `Diversion`, `Remote-Party-ID`, `History-Info`,
  `User-to-User`). The secondary carrier's INVITE is not the primary's.
- `dtmf-method`: a DTMF method in the flow (RFC 2833/4733, telephone-event, SIP INFO, in-band,
  "RTP Events"): DTMF is normalised on the trunks (RFC 2833 with SIP INFO as fallback), not in
  the flow.
- `no-failover-branch` (inbound call flows): the flow never reads trunkguard's active-carrier row,
  or reads it and never branches on it, so callers get the same path whichever carrier is up.
- `lookup-no-failure-path`: a Data Table Lookup of trunkguard's table without actions on its
  `failure` and `notFound` outputs: when the row cannot be read the carrier is unknown and the
  call takes whatever follows.

trunkguard's table is the one named with `--table` (a name, or the config's `datatable_id` for an
export), or any table whose lookup reads an `activeCarrier` or `trunkBaseId` column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from trunkguard.flows.document import FlowDocument, FlowUnreadable

RULES: dict[str, str] = {
    "hardcoded-trunk": "names a trunk, trunk base or carrier host",
    "trunk-variable": "reads the trunk a call came in on",
    "sip-header": "reads a carrier's SIP headers",
    "dtmf-method": "assumes a DTMF method",
    "no-failover-branch": "never branches on trunkguard's active carrier",
    "lookup-no-failure-path": "reads trunkguard's table without failure and not-found paths",
}
CARRIER_COLUMNS = ("activeCarrier", "trunkBaseId")
ROLES = frozenset({"primary", "secondary"})
MAX_NODES = 200_000

_TRUNK_VARIABLE = re.compile(r"(?i)\b(?:(?:system|call)\.trunk\w*(?:\.\w+)*|trunk(?:\.group)?\.(?:name|id))\b")
_DTMF = re.compile(r"(?i)\brfc\s*-?\s*(?:2833|4733)\b|\btelephone-event\b|\bsip[\s_-]*info\b|\bin-?band\b"
                   r"|\bdtmf[\s_-]*(?:method|mode|relay|type|payload)s?\b|\brtp[\s_-]*events?\b")
_HEADER = re.compile(r"(?i)x-[a-z0-9][a-z0-9-]*|p-(?:asserted|preferred|charging|called|access|visited)-[a-z-]+"
                     r"|diversion|remote-party-id|history-info|user-to-user")
_SIP_HEADER_ACTION = re.compile(r"(?i)sip_?headers?")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_VARIABLE = re.compile(r"^(?:Flow|Task|State)\.\w+$")
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Finding:
    rule: str
    path: str
    line: int | None
    column: int | None
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "path": self.path, "line": self.line, "column": self.column,
                "message": self.message}


@dataclass(frozen=True)
class LintContext:
    """What the lint knows about the carriers: `words` are (text, what it is) pairs that must not
    appear in a flow; `tables` name trunkguard's data table (names, or ids for exports)."""

    words: tuple[tuple[str, str], ...] = ()
    tables: tuple[str, ...] = ()
    ignore: frozenset[str] = frozenset()

    @classmethod
    def build(cls, *, words: Iterable[tuple[str, str]] = (), trunks: Iterable[str] = (), tables: Iterable[str] = (),
              ignore: Iterable[str] = ()) -> LintContext:
        """`words`: what the config names (rules.lint_words), with `trunks` given on the command line."""
        found = [*((t, f"trunk {t!r} (--trunk)") for t in trunks), *words]
        kept = tuple(dict.fromkeys((w, what) for w, what in found if len(w) >= 3 and w.lower() not in ROLES))
        return cls(kept, tuple(dict.fromkeys(tables)), frozenset(ignore))


@dataclass
class _Lookup:
    node: Node
    path: str
    table: str
    variables: list[str]
    missing: list[str]


@dataclass
class _Walk:
    """What one pass over a flow collects: findings, trunkguard's lookups, branch conditions."""

    doc: FlowDocument
    ctx: LintContext
    findings: list[Finding] = field(default_factory=list)
    lookups: list[_Lookup] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    visited: int = 0

    def add(self, rule: str, node: Node, path: str, message: str) -> None:
        if rule in self.ctx.ignore or any(f.rule == rule and f.path == path for f in self.findings):
            return
        mark = node.start_mark
        self.findings.append(Finding(rule, path, mark.line + 1 if mark else None, mark.column + 1 if mark else None,
                                     message))


def lint(doc: FlowDocument, ctx: LintContext) -> list[Finding]:
    """Every finding in one flow, in file order."""
    walk = _Walk(doc, ctx)
    _visit(walk, doc.body, doc.body_path, parent_key=None)
    if doc.is_call_flow:
        _failover_branch(walk)
    return sorted(walk.findings, key=lambda f: (f.line or 0, f.column or 0, f.rule))


def _visit(walk: _Walk, node: Node, path: str, parent_key: str | None) -> None:
    walk.visited += 1
    if walk.visited > MAX_NODES:
        raise FlowUnreadable(f"more than {MAX_NODES:,} values (aliases repeated within aliases?)")
    if isinstance(node, ScalarNode):
        _scalar(walk, node, path, parent_key)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _visit(walk, item, f"{path}[{i}]", parent_key)
    elif isinstance(node, MappingNode):
        _mapping(walk, node, path)


def _mapping(walk: _Walk, node: MappingNode, path: str) -> None:
    kind = walk.doc.kind
    if kind == "export-json":
        type_key = next((k for k, _ in node.value if isinstance(k, ScalarNode) and k.value == "__type"), None)
        action_type = _scalar_value(_get(node, "__type"))
        if type_key is not None and action_type is not None:
            _export_action(walk, node, type_key, path, action_type)
    for key_node, value in node.value:
        key = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
        here = _join(path, key)
        if isinstance(key_node, ScalarNode):
            _text_rules(walk, key_node, here, key)
        if kind == "archy-yaml":
            if _SIP_HEADER_ACTION.search(key):
                walk.add("sip-header", key_node, here,
                         f"{key}: reads the SIP headers of the INVITE, which differ from carrier to carrier; "
                         "branch on trunkguard's activeCarrier row instead")
            if key == "dataTableLookup" and isinstance(value, MappingNode):
                _archy_lookup(walk, key_node, value, here)
            elif key in ("decision", "switch") and isinstance(value, MappingNode):
                walk.conditions.extend(_expressions(value, skip=("outputs", "actions")))
        _visit(walk, value, here, key)


def _scalar(walk: _Walk, node: ScalarNode, path: str, parent_key: str | None) -> None:
    text = str(node.value)
    _text_rules(walk, node, path, text)
    if parent_key in ("exp", "text"):
        headers = [lit for lit in _QUOTED.findall(text) if _HEADER.fullmatch(lit)]
        if parent_key == "text" and _HEADER.fullmatch(text):
            headers.append(text)
    else:
        headers = [text] if parent_key == "lit" and _HEADER.fullmatch(text) else []
    if headers:
        walk.add("sip-header", node, path,
                 f"reads the SIP header {', '.join(dict.fromkeys(headers))}: carriers set headers differently, "
                 "so the secondary's calls do not carry the primary's")


def _text_rules(walk: _Walk, node: ScalarNode, path: str, text: str) -> None:
    named = [what for word, what in walk.ctx.words
             if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.IGNORECASE)]
    if named:
        walk.add("hardcoded-trunk", node, path,
                 f"names {'; '.join(named)}: when the other carrier delivers the call this no longer holds; "
                 "branch on trunkguard's activeCarrier row")
    match = _TRUNK_VARIABLE.search(text)
    if match:
        walk.add("trunk-variable", node, path,
                 f"{match.group(0)}: Architect has no variable naming the trunk a call came in on, and any such "
                 "value changes with the carrier; branch on trunkguard's activeCarrier row")
    methods = [m.group(0) for m in _DTMF.finditer(text)]
    if methods:
        walk.add("dtmf-method", node, path,
                 f"assumes a DTMF method ({', '.join(dict.fromkeys(methods))}): the other carrier may relay DTMF "
                 "differently; normalise DTMF on both trunks (RFC 2833 with SIP INFO as fallback) and keep it out "
                 "of the flow")


def _archy_lookup(walk: _Walk, key_node: Node, lookup: MappingNode, path: str) -> None:
    tables = _get(lookup, "dataTable")
    if not isinstance(tables, MappingNode) or not tables.value:
        return
    table_key, table = tables.value[0]
    name = str(table_key.value) if isinstance(table_key, ScalarNode) else ""
    found = _get(table, "foundOutputs") if isinstance(table, MappingNode) else None
    columns = {str(k.value): v for k, v in found.value if isinstance(k, ScalarNode)} \
        if isinstance(found, MappingNode) else {}
    if not (_is_ours(walk.ctx, name) or any(c in columns for c in CARRIER_COLUMNS)):
        return
    carrier = columns.get("activeCarrier")
    variables = [v for v in [_scalar_value(_get(carrier, "var"))] if v] if isinstance(carrier, MappingNode) else []
    outputs = _get(lookup, "outputs")
    missing = [label for label, out in (("failure", "failure"), ("notFound", "notFound"))
               if not _has_actions(_get(outputs, out) if isinstance(outputs, MappingNode) else None)]
    _record_lookup(walk, _Lookup(key_node, path, name, variables, missing))


def _export_action(walk: _Walk, node: MappingNode, at: Node, path: str, action_type: str) -> None:
    """One action of an export (a mapping with `__type`); findings point at its `__type` line."""
    if _SIP_HEADER_ACTION.search(action_type):
        walk.add("sip-header", at, path,
                 f"{action_type}: reads the SIP headers of the INVITE, which differ from carrier to carrier; "
                 "branch on trunkguard's activeCarrier row instead")
    elif action_type == "DataTableLookupAction":
        name = _scalar_value(_get(node, "datatableName")) or ""
        table_id = _scalar_value(_get(node, "datatableId")) or ""
        outputs = _get(node, "outputs")
        strings = list(_strings(outputs)) if outputs is not None else []
        if not (_is_ours(walk.ctx, name) or _is_ours(walk.ctx, table_id) or any(c in strings for c in CARRIER_COLUMNS)):
            return
        paths = _get(node, "paths")
        wired = {_scalar_value(_get(p, "outputId")) for p in (paths.value if isinstance(paths, SequenceNode) else [])
                 if isinstance(p, MappingNode) and _scalar_value(_get(p, "nextActionId"))}
        missing = [label for label, out in (("failure", "__FAILURE__"), ("notFound", "__NOT_FOUND__"))
                   if out not in wired]
        _record_lookup(walk, _Lookup(at, path, name or table_id, [s for s in strings if _VARIABLE.match(s)],
                                     missing))
    elif "Decision" in action_type or "Switch" in action_type:
        walk.conditions.extend(_expressions(node, skip=("paths",)))


def _record_lookup(walk: _Walk, lookup: _Lookup) -> None:
    walk.lookups.append(lookup)
    if lookup.missing:
        what = {"failure": "no failure path (the lookup fails)", "notFound": "no notFound path (the row is missing)"}
        walk.add("lookup-no-failure-path", lookup.node, lookup.path,
                 f"reads trunkguard's table {lookup.table} with {' and '.join(what[m] for m in lookup.missing)}: "
                 "the carrier is then unknown and the call takes whatever follows; give each path an action "
                 "that sets the default carrier")


def _failover_branch(walk: _Walk) -> None:
    at = walk.doc.type_node
    if not walk.lookups:
        table = " or ".join([*(f"table {t}" for t in walk.ctx.tables), "a table with an activeCarrier column"])
        walk.add("no-failover-branch", at, walk.doc.body_path or "(top)",
                 f"never reads trunkguard's active-carrier row ({table}): every caller takes the same path "
                 "whichever carrier is up, and there is no failover path")
        return
    variables = [v for lookup in walk.lookups for v in lookup.variables]
    if variables:
        used = [v for v in variables
                if any(re.search(rf"(?<![\w.]){re.escape(v)}(?!\w)", c, re.IGNORECASE) for c in walk.conditions)]
        if used:
            return
        first = walk.lookups[0]
        walk.add("no-failover-branch", first.node, first.path,
                 f"reads the active carrier into {', '.join(dict.fromkeys(variables))} but no decision or switch "
                 "branches on it: there is no failover path")
        return
    if walk.doc.kind == "export-json" and any('"secondary"' in c for c in walk.conditions):
        return
    first = walk.lookups[0]
    walk.add("no-failover-branch", first.node, first.path,
             f"reads trunkguard's table {first.table} but keeps no activeCarrier value to branch on: "
             "there is no failover path")


def _is_ours(ctx: LintContext, name: str) -> bool:
    return bool(name) and name.lower() in {t.lower() for t in ctx.tables}


def _expressions(node: Node, skip: tuple[str, ...]) -> Iterator[str]:
    """The expression texts under `node` (every `exp` in Archy, every `text` in an export), not
    looking under the keys in `skip` (the branches and their actions)."""
    if isinstance(node, MappingNode):
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key in skip:
                continue
            if key in ("exp", "text") and isinstance(value, ScalarNode):
                yield str(value.value)
            else:
                yield from _expressions(value, skip)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _expressions(item, skip)


def _strings(node: Node) -> Iterator[str]:
    if isinstance(node, ScalarNode):
        yield str(node.value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _strings(item)
    elif isinstance(node, MappingNode):
        for key_node, value in node.value:
            yield from _strings(key_node)
            yield from _strings(value)


def _get(node: Node | None, key: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == key), None)


def _scalar_value(node: Node | None) -> str | None:
    return str(node.value) if isinstance(node, ScalarNode) and node.value not in (None, "") else None


def _has_actions(output: Node | None) -> bool:
    actions = _get(output, "actions")
    return isinstance(actions, SequenceNode) and bool(actions.value)


def _join(path: str, key: str) -> str:
    if _SIMPLE_KEY.match(key):
        return f"{path}.{key}" if path else key
    quoted = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{path}["{quoted}"]'
