"""Genesys Cloud CX (BYOC Cloud): a carrier swap as changes to real, versioned objects.

Genesys Cloud has no routing rule that points at a "trunk group", and DIDs are not bound to a
trunk: inbound calls arrive over whichever BYOC trunk the carrier delivers them to (the carriers
move the DIDs; both trunks stay configured). What trunkguard changes:

- Every outbound route that uses either carrier's trunk base (found with
  `GET /api/v2/telephony/providers/edges/outboundroutes?externalTrunkBases.ids=...`, optionally
  limited to the configured `sites` and `outbound_routes`): the target carrier's base ahead of the
  other carrier's, the route's other bases kept in their places (an emergency route whose own trunk
  comes first keeps it first) (`distribution: SEQUENTIAL` then retries the other one per
  call on retryable codes). `PUT .../sites/{siteId}/outboundroutes/{routeId}` takes an
  `OutboundRouteBase`: the whole object at the version read, without `site` and `managed`.
- The Architect data-table row the inbound flows read as the active carrier (`datatable_id`,
  row `datatable_row`, fields `activeCarrier` = primary|secondary and `trunkBaseId`): the guide's
  Standard vs Failover IVR path. `PUT /api/v2/flows/datatables/{id}/rows/{rowId}` (no version).
- Optionally (`manage_trunk_enabled`) the primary's trunk base `trunk_enabled` property: false
  while on the secondary, true again on failback. `PUT .../trunkbasesettings/{id}` with its version.

The order follows the direction: to the secondary, routes, then the row, then the primary out of
service; back to the primary, the primary in service first, then routes, then the row. On failback
each route gets back the order recorded before the swap. Genesys has no Idempotency-Key header:
idempotency comes from comparing the wanted state (`shows`) and from versions.

A carrier's `trunk_group_id` in the config is its trunk base settings id. Live calls for the
breaker are the primary carrier's trunks' inbound + outbound call counts (`/trunks/metrics`). The
edge's own OPTIONS view of each carrier (`optionsStatus`, `inService`) is the second vantage point.
`Trunk.inService` comes from its trunk base's `trunk_enabled`, so every trunk base this adapter
reads or writes is told to its watchers (`watch_trunk_bases`: the notification channel, whose
pushed events never carry `inService`).

Parity reads both carriers' trunk bases (`trunk_settings`, the `TrunkSettingsReader` of
actuation/base.py): the values of their `properties` in effect, compared by trunkguard/parity.py.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

from trunkguard.actuation.base import (
    AuthError,
    Change,
    ObjectRef,
    PlatformError,
    RoutingState,
    Seen,
    Stage,
    TrunkSettingsUnreadable,
    VersionConflict,
    fields_match,
    fields_of,
)
from trunkguard.actuation.http import PlatformHttp, json_object
from trunkguard.logs import fields

EDGES = "/api/v2/telephony/providers/edges"
READ_ONLY = ("selfUri", "dateCreated", "dateModified", "modifiedBy", "createdBy", "modifiedByApp", "createdByApp")
NOT_IN_ROUTE_BASE = ("site", "managed")  # OutboundRoute has them; the PUT takes an OutboundRouteBase
ROUTE, ROW, TRUNK_BASE = "outbound route", "data table row", "trunk base"
log = logging.getLogger("trunkguard.genesys")
TrunkBaseWatcher = Callable[[str, bool], None]  # (trunk base id, trunk_enabled as read or written)


class GenesysPlatform:
    def __init__(self, http: PlatformHttp, *, primary_trunk_base: str, secondary_trunk_base: str,
                 sites: tuple[str, ...] = (), outbound_routes: tuple[str, ...] = (),
                 datatable_id: str | None = None, datatable_row: str = "active",
                 manage_trunk_enabled: bool = False, chain: tuple[tuple[str, str], ...] = ()) -> None:
        """`chain`: every carrier as (name, trunk base id) in priority order, for a chain longer than the
        pair `primary_trunk_base`, `secondary_trunk_base` (which are then its first two)."""
        self.http = http
        self.primary, self.secondary = primary_trunk_base, secondary_trunk_base
        self.chain = chain or (("primary", primary_trunk_base), ("secondary", secondary_trunk_base))
        self.bases = tuple(base for _, base in self.chain)  # every carrier's trunk base, in chain order
        self.names = {base: name for name, base in self.chain}
        self.sites, self.route_ids = tuple(sites), tuple(outbound_routes)
        self.row = ObjectRef(ROW, f"{datatable_id}/{datatable_row}",
                             f"/api/v2/flows/datatables/{datatable_id}/rows/{datatable_row}") if datatable_id else None
        self.row_key = datatable_row
        self.trunk_base = ObjectRef(TRUNK_BASE, primary_trunk_base, f"{EDGES}/trunkbasesettings/{primary_trunk_base}")
        self.manage_trunk_enabled = manage_trunk_enabled
        self._watchers: list[TrunkBaseWatcher] = []
        self._trunk_base_versions: dict[str, int] = {}  # the newest version read or written, per trunk base

    def watch_trunk_bases(self, watcher: TrunkBaseWatcher) -> None:
        """Call `watcher(trunk base id, trunk_enabled)` after each read of a trunk base's settings and
        each accepted write, unless the read is older (by version) than one already seen."""
        self._watchers.append(watcher)

    # ---- reading ---------------------------------------------------------------------------

    async def routes(self) -> list[dict[str, Any]]:
        """Every outbound route using either carrier's trunk base, within the configured limits."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            data = json_object(await self.http.request("GET", f"{EDGES}/outboundroutes", params={
                "externalTrunkBases.ids": ",".join(self.bases), "pageSize": "100",
                "pageNumber": str(page)}), "outbound routes listing")
            entities = data.get("entities")
            if not isinstance(entities, list):
                raise PlatformError("outbound routes listing not understood: no entities")
            for route in entities:
                if not isinstance(route, dict) or not route.get("id") or not (route.get("site") or {}).get("id"):
                    continue
                if (self.sites and route["site"]["id"] not in self.sites) or \
                        (self.route_ids and route["id"] not in self.route_ids):
                    continue
                if route.get("managed"):
                    log.warning("outbound route %s is managed by Genesys and cannot be changed", route["id"],
                                extra=fields("route_managed", route=str(route["id"])))
                    continue
                found.append(route)
            if page >= int(data.get("pageCount") or 1):
                break
            page += 1
        if not found:
            limits = f" within sites {list(self.sites)} and routes {list(self.route_ids)}" \
                if self.sites or self.route_ids else ""
            raise PlatformError(f"no outbound route uses trunk base {' or '.join(self.bases)}{limits}")
        return found

    async def read_routing(self) -> RoutingState:
        routes = await self.routes()
        carriers = self.bases
        firsts = {next((i for i in _base_ids(r) if i in carriers), "none") for r in routes}
        raw: dict[str, Any] = {"outboundRoutes": {r["id"]: r for r in routes}}
        current = sorted(firsts)[0]
        disagree: list[str] = []
        if len(firsts) > 1:
            disagree.append(f"routes start with {', '.join(sorted(firsts))}")
        if self.row is not None:
            row = (await self.read(self.row)).body
            raw["dataTableRow"] = row
            if row.get("trunkBaseId") != current:
                disagree.append(f"data table row says {row.get('trunkBaseId')}")
        if self.manage_trunk_enabled:
            enabled = _trunk_enabled((await self.read(self.trunk_base)).body)
            raw["primaryTrunkEnabled"] = enabled
            if enabled != (current == self.primary):
                disagree.append(f"primary trunk_enabled is {enabled}")
        if disagree:  # half-applied by someone: not equal to any carrier, so a swap completes it
            current = f"mixed:{current} ({'; '.join(disagree)})"
        version = max(int(r.get("version", 0)) for r in routes)
        return RoutingState(",".join(r["id"] for r in routes), current, version, raw)

    async def read(self, ref: ObjectRef) -> Seen:
        params = {"showbrief": "false"} if ref.kind == ROW else {"ignoreHidden": "true"} \
            if ref.kind == TRUNK_BASE else None
        body = json_object(await self.http.request("GET", ref.path, params=params), f"GET {ref.label}")
        seen = Seen(ref, None if ref.kind == ROW else int(body.get("version", 0)), body)
        self._saw(seen)
        return seen

    async def trunk_settings(self) -> dict[str, Mapping[str, Any]]:
        """Both carriers' trunk bases as Genesys has them (`GET .../trunkbasesettings/{id}`), by role:
        `{"id", "name", "values"}`, each property's value in effect (its `instance`, else its
        `default`). Raises TrunkSettingsUnreadable naming the carrier and why (a 403 is a missing
        `telephony:plugin:all`, the permission every trunk base endpoint needs)."""
        out: dict[str, Mapping[str, Any]] = {}
        for role, base_id in (("primary", self.primary), ("secondary", self.secondary)):
            ref = ObjectRef(TRUNK_BASE, base_id, f"{EDGES}/trunkbasesettings/{base_id}")
            try:
                response = await self.http.request("GET", ref.path, params={"ignoreHidden": "true"})
            except AuthError:
                raise TrunkSettingsUnreadable(role, base_id, "401: the platform refused our token") from None
            except PlatformError as exc:
                raise TrunkSettingsUnreadable(role, base_id, str(exc)) from None
            if response.status_code == 403:
                raise TrunkSettingsUnreadable(role, base_id, "403: missing telephony:plugin:all")
            if response.status_code == 404:
                raise TrunkSettingsUnreadable(role, base_id, "404: no such trunk base")
            try:
                body = json_object(response, f"GET {ref.label}")
            except PlatformError as exc:
                raise TrunkSettingsUnreadable(role, base_id, str(exc).removeprefix(f"GET {ref.label}: HTTP ")) \
                    from None
            self._saw(Seen(ref, int(body.get("version", 0)), body))
            out[role] = {"id": base_id, "name": str(body.get("name") or ""), "values": property_values(body)}
        return out

    async def active_calls(self) -> int:
        """Calls on the primary carrier's trunks now (inbound + outbound), from trunk metrics."""
        trunk_ids = [t["id"] for t in await self.trunks(self.primary)]
        if not trunk_ids:
            return 0
        response = await self.http.request("GET", f"{EDGES}/trunks/metrics", params={"trunkIds": ",".join(trunk_ids)})
        if response.status_code >= 300:
            json_object(response, "trunk metrics")  # raises, naming the status
        try:
            return sum(int(m["calls"].get("inboundCallCount", 0)) + int(m["calls"].get("outboundCallCount", 0))
                       for m in response.json())
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PlatformError(f"trunk metrics not understood: {exc}") from None

    async def edge_view(self) -> dict[str, bool | None]:
        """Per carrier trunk base: does the Genesys edge see a trunk in service answering OPTIONS?
        None when it has no trunks or OPTIONS monitoring is off."""
        view: dict[str, bool | None] = {}
        for base in self.bases:
            view[base] = trunks_answering(await self.trunks(base))
        return view

    # ---- the swap's objects ------------------------------------------------------------------

    async def plan(self, target: str, restore: RoutingState | None) -> tuple[Stage, ...]:
        if target not in self.bases:
            raise PlatformError(f"{target} is no carrier's trunk base ({', '.join(self.bases)})")
        role = self.names[target]
        recorded = dict(restore.raw) if restore is not None and restore.trunk_group_id == target else {}
        recorded_routes = recorded.get("outboundRoutes") or {}
        routes: list[Change] = []
        for route in await self.routes():
            ids = _base_ids(route)
            was = _base_ids(recorded_routes.get(route["id"]) or {})
            carriers = self.bases
            if next((i for i in was if i in carriers), None) == target:
                # back to the recorded order: a carrier base the swap added goes; others added since go last
                wanted = [*was, *[i for i in ids if i not in was and i not in carriers]]
                says = f"{' > '.join(wanted)}, as recorded"
            else:
                wanted = _preferring(ids, target, carriers) if len(carriers) == 2 else _in_chain_order(ids, target,
                                                                                                      carriers)
                says = f"{target} before {'the other carrier' if len(wanted) > 1 else 'nothing'}" \
                    if len(carriers) == 2 else f"{' > '.join(i for i in wanted if i in carriers)}"
            routes.append(Change(ObjectRef(ROUTE, route["id"],
                                           f"{EDGES}/sites/{route['site']['id']}/outboundroutes/{route['id']}"),
                                 {"externalTrunkBases": wanted}, says))
        stages: list[Stage] = [tuple(routes)]
        if self.row is not None:
            row_was = recorded.get("dataTableRow") or {}
            want = {k: v for k, v in row_was.items() if k != "key"} if row_was.get("trunkBaseId") == target \
                else {"activeCarrier": role, "trunkBaseId": target}
            stages.append((Change(self.row, want, f"activeCarrier {want.get('activeCarrier', role)}"),))
        if self.manage_trunk_enabled:
            enabled = target == self.primary
            change = Change(self.trunk_base, {"trunk_enabled": enabled}, f"trunk_enabled {str(enabled).lower()}")
            stages = [(change,), *stages] if enabled else [*stages, (change,)]
        return tuple(stages)

    async def write(self, base: Seen, change: Change, key: str) -> Seen:
        kind, body = change.ref.kind, _writable(dict(base.body))
        if kind == ROUTE:
            for name in NOT_IN_ROUTE_BASE:
                body.pop(name, None)
            have = {str(b.get("id")): b for b in body.get("externalTrunkBases") or []}
            body["externalTrunkBases"] = [have.get(i, {"id": i}) for i in change.want["externalTrunkBases"]]
            body["version"] = base.version
        elif kind == TRUNK_BASE:
            prop = body.setdefault("properties", {}).setdefault("trunk_enabled", {"type": "boolean", "value": {}})
            prop.setdefault("value", {})["instance"] = bool(change.want["trunk_enabled"])
            body["version"] = base.version
        else:
            body = {**body, **change.want, "key": self.row_key}
        response = await self.http.request("PUT", change.ref.path, json=body)
        if response.status_code == 409 or (response.status_code == 400
                                           and "does not match the current version" in response.text):
            raise VersionConflict(f"{change.ref.label}: version {base.version} is stale")
        answer = json_object(response, f"PUT {change.ref.label}")
        seen = Seen(change.ref, None if kind == ROW else int(answer.get("version", (base.version or 0) + 1)), answer)
        self._saw(seen)
        return seen

    def shows(self, seen: Seen, change: Change) -> bool:
        if change.ref.kind == ROUTE:
            return _base_ids(seen.body) == list(change.want["externalTrunkBases"])
        if change.ref.kind == TRUNK_BASE:
            return _trunk_enabled(seen.body) is bool(change.want["trunk_enabled"])
        return fields_match(seen.body, change.want)

    def undo(self, before: Seen, change: Change) -> Change:
        if change.ref.kind == ROUTE:
            ids = _base_ids(before.body)
            return Change(change.ref, {"externalTrunkBases": ids}, f"back to {' > '.join(ids)}")
        if change.ref.kind == TRUNK_BASE:
            enabled = _trunk_enabled(before.body)
            return Change(change.ref, {"trunk_enabled": enabled}, f"back to trunk_enabled {str(enabled).lower()}")
        was = fields_of(before.body, change.want)
        return Change(change.ref, was, f"back to activeCarrier {was.get('activeCarrier')}")

    # ---- helpers -----------------------------------------------------------------------------

    async def trunks(self, base: str) -> list[dict[str, Any]]:
        response = await self.http.request("GET", f"{EDGES}/trunks", params={"trunkBase.id": base, "pageSize": "100"})
        entities = json_object(response, "trunks").get("entities")
        if not isinstance(entities, list):
            raise PlatformError("trunks listing not understood: no entities")
        return [t for t in entities if isinstance(t, dict)]

    async def close(self) -> None:
        await self.http.close()

    def _saw(self, seen: Seen) -> None:
        """A trunk base as read or written: its trunk_enabled to the watchers (a lagging read is not)."""
        if seen.ref.kind != TRUNK_BASE or not self._watchers:
            return
        version = seen.version or 0
        if version < self._trunk_base_versions.get(seen.ref.id, 0):
            return
        self._trunk_base_versions[seen.ref.id] = version
        enabled = _trunk_enabled(seen.body)
        for watcher in self._watchers:
            try:
                watcher(seen.ref.id, enabled)
            except Exception:  # a watcher's fault never fails the swap that read or wrote the object
                log.exception("a trunk base watcher failed", extra=fields("watcher_failed", trunk_base=seen.ref.id))


def trunks_answering(trunks: list[dict[str, Any]]) -> bool | None:
    """Does any monitored trunk in service answer OPTIONS? None when none is monitored."""
    monitored = [t for t in trunks if t.get("optionsEnabledStatus", "ENABLED") == "ENABLED"]
    return None if not monitored else any(
        t.get("inService") and any(o.get("optionState") for o in t.get("optionsStatus") or []) for t in monitored)


def _preferring(ids: list[str], target: str, carriers: tuple[str, str]) -> list[str]:
    """`ids` with `target` moved to where the first carrier base is; other bases keep their places
    (an emergency route's own first trunk stays first)."""
    rest = [i for i in ids if i != target]
    at = next((n for n, i in enumerate(rest) if i in carriers), len(rest))
    return [*rest[:at], target, *rest[at:]]


def _in_chain_order(ids: list[str], target: str, carriers: tuple[str, ...]) -> list[str]:
    """`ids` with the carriers' bases as one block where the first of them was: `target` first (added if
    the route lacked it), then the other carriers the route has, in chain order; the route's other bases
    keep their places around the block (an emergency route's own first trunk stays first)."""
    rest = [i for i in ids if i not in carriers]
    first = next((n for n, i in enumerate(ids) if i in carriers), len(ids))
    at = sum(1 for i in ids[:first] if i not in carriers)
    block = [target, *[c for c in carriers if c != target and c in ids]]
    return [*rest[:at], *block, *rest[at:]]


def _base_ids(route: Mapping[str, Any]) -> list[str]:
    return [str(b.get("id")) for b in route.get("externalTrunkBases") or [] if isinstance(b, dict)]


def _writable(obj: dict[str, Any]) -> dict[str, Any]:
    """PUTs are full replacements: the object as read, without its read-only fields."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if k not in READ_ONLY}


def property_values(base: Mapping[str, Any]) -> dict[str, Any]:
    """A trunk base's properties as values in effect: `{"type", "value": {"default", "instance"}}`
    gives its instance, or its default where the instance is null (never set on this trunk base)."""
    values: dict[str, Any] = {}
    for name, prop in (base.get("properties") or {}).items():
        value = prop.get("value") if isinstance(prop, Mapping) else None
        if isinstance(value, Mapping):
            values[str(name)] = value.get("default") if value.get("instance") is None else value["instance"]
    return values


def _trunk_enabled(base: Mapping[str, Any]) -> bool:
    """The property's instance value; `"instance": null` (never set on this trunk) means its default."""
    value = ((base.get("properties") or {}).get("trunk_enabled") or {}).get("value") or {}
    instance = value.get("instance")
    return bool(value.get("default", True) if instance is None else instance)
