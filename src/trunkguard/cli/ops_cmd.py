"""Operator commands talking to the running daemon's local API: status, history, failover,
failback, pause, resume, cancel, ack. The daemon is found through the config's `api.listen`; the token
comes from the environment variable `api.token_env` names.

Each command that acts on or shows one routing group takes `--group NAME`: the only group by default,
required for an action when the config has several (`status` without it shows every group at a
glance, then the first one's details; `history` without it every group's decisions). The group, and
`--to` and a maintenance's trunk within it, are checked against the config before the daemon is asked."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

import typer

from trunkguard.cli import output
from trunkguard.cli.common import (
    CONFIG,
    EXIT_FAILED,
    EXIT_STORED_VIEW,
    emit_json,
    find_config,
    load_or_exit,
    require_store_driver,
    usage_error,
)
from trunkguard.core.wording import count
from trunkguard.moments import epoch, iso, parse_since

if TYPE_CHECKING:  # httpx, the store (SQLAlchemy, Alembic) and the config are imported where used
    import httpx
    from rich.console import Console

    from trunkguard.config import Config, RoutingGroup
    from trunkguard.store import Store

T = TypeVar("T")
JSON = typer.Option(False, "--json", help="Print JSON.")
REASON = typer.Option(..., "--reason", "-r", help="Why: recorded with your name in the audit trail.")
QUEUE = typer.Option(False, "--queue", help="No daemon runs (trunkguard cycle from a scheduler): store the action "
                                              "for the next cycle to carry out.")
WHO = typer.Option(None, "--who", help="Your name for the audit trail (default: $USER).")
GROUP = typer.Option(None, "--group", help="The routing group (the config's groups:) to act on; default: the only "
                                           "one, required when the config has several.")


def _group(cfg: Config, name: str | None, *, required: bool = True) -> RoutingGroup | None:
    """Routing group `name` of the config (None: the only one); a usage error (exit 2) naming the groups for
    one the config does not have, or, when `required`, for none named while the config has several.
    None: none named, several groups, not `required`."""
    groups = cfg.routing_groups()
    names = ", ".join(g.name for g in groups)
    if name is None:
        if len(groups) == 1:
            return groups[0]
        if not required:
            return None
        usage_error(f"--group is required: the config has {len(groups)} routing groups ({names})")
    found = next((g for g in groups if g.name == name), None)
    if found is None:
        usage_error(f"--group must be one of the config's routing groups ({names}), not {name!r}")
    return found


def _chosen(cfg: Config, name: str | None) -> RoutingGroup:
    """`_group`, required."""
    group = _group(cfg, name)
    assert group is not None
    return group


def _whose(cfg: Config, group: RoutingGroup) -> str:
    """`the` with one routing group, `group eu's` with several: whose chain a sentence names."""
    return f"group {group.name}'s" if len(cfg.routing_groups()) > 1 else "the"


class Unreachable(Exception):
    """The daemon's API did not answer."""


PERSONAL_TOKEN = "TRUNKGUARD_TOKEN"  # noqa: S105 - the name of a variable, not a secret


def _configured(cfg: Config, name: str) -> str:
    """The daemon's own token `name` (token, read_token), read as the daemon reads it: from its variable or
    its file; "" when this user cannot (the problem is the daemon's to report, not this command's)."""
    from trunkguard.credentials import Secrets

    env, file = cfg.api.secret(name)
    return Secrets(base_dir=cfg.source_dir).get(f"api.{name}_env", env, file=file) or ""


def _call(cfg: Config, method: str, path: str, body: dict[str, Any] | None = None, *,
          fallback: bool = False) -> httpx.Response:
    """One request to the daemon at `api.listen` (HTTPS when `api.tls` is set), with the operator
    token for actions and the read token (or else the operator's) for reads."""
    import ssl

    import httpx

    host, _, port = cfg.api.listen.rpartition(":")
    if host in ("0.0.0.0", "[::]"):  # listening everywhere: this machine reaches it on loopback
        host = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
    tls = cfg.api.tls
    url = f"{'https' if tls else 'http'}://{host}:{port}{path}"
    headers = {}
    own = os.environ.get(PERSONAL_TOKEN, "")  # a person's named token (api.tokens): the audit records its name
    write_token = own or _configured(cfg, "token")
    read_token = own or _configured(cfg, "read_token")
    if method != "GET" and not write_token and (cfg.api.token_env or cfg.api.token_file or cfg.api.tokens):
        named = f"{PERSONAL_TOKEN} (your token in api.tokens)"
        if cfg.api.token_file is not None:
            usage_error(f"the operator token's file (api.token_file: {cfg.api.token_file}) cannot be read here: "
                        f"set {named}")
        usage_error(f"environment variable {cfg.api.token_env} (api.token_env) is not set" if cfg.api.token_env and
                    not cfg.api.tokens else f"set {named}" + (f" or {cfg.api.token_env} (api.token_env)"
                                                              if cfg.api.token_env else ""))
    token = write_token if method != "GET" else (read_token or write_token)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    verify: ssl.SSLContext | bool = True
    if tls is not None and tls.ca_file is not None:
        verify = ssl.create_default_context(cafile=str(tls.ca_file))
    try:
        return httpx.request(method, url, json=body, headers=headers, timeout=35.0, verify=verify)
    except httpx.HTTPError as exc:
        if fallback:
            raise Unreachable(f"{type(exc).__name__}") from None
        typer.echo(f"trunkguard: cannot reach the daemon at {cfg.api.listen} ({type(exc).__name__}); "
                   "is `trunkguard run` running with this config?", err=True)
        raise typer.Exit(EXIT_FAILED) from None


def _json_or_fail(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = {"error": response.text[:300]}
    if response.status_code >= 400 and "sentences" not in data:
        typer.echo(f"trunkguard: {data.get('error', response.status_code)}", err=True)
        raise typer.Exit(EXIT_FAILED)
    return data if isinstance(data, dict) else {"data": data}


def status(config: Path | None = CONFIG, as_json: bool = JSON,
           group: str | None = typer.Option(None, "--group", help="The routing group to show (its carriers, its "
                                                                 "pair); default: the only one; with several, "
                                                                 "every group at a glance, then the first's "
                                                                 "details.")) -> None:
    """Where inbound routing points, each trunk's health, and anything waiting on a person. When the
    daemon does not answer, the view stored in the config's store, and how old it is (exit 3: a stored view
    only; 1 when neither the daemon nor the store answers)."""
    config = find_config(config)
    cfg = load_or_exit(config)
    chosen = _group(cfg, group, required=False)
    groups = cfg.routing_groups()
    several = len(groups) > 1
    shown = chosen or groups[0]  # whose details the text shows (the JSON without --group is the API's own)
    query = {"samples": "5", **({"group": shown.name} if group is not None or (several and not as_json) else {})}
    try:  # every trunk (of the group) in full
        data = _json_or_fail(_call(cfg, "GET", f"/api/v1/status?{urlencode(query)}", fallback=True))
    except Unreachable as exc:
        _stored_status(cfg, str(exc), as_json, shown.name, named=group is not None)
        raise typer.Exit(EXIT_STORED_VIEW) from None
    if as_json:  # the same keys as the stored view's (_stored_status), with where the answer came from
        published = data.get("published_at")
        emit_json({"source": "daemon", "reason": None, "stored_at": None,
                   "age_s": None if published is None else round(max(0.0, time.time() - epoch(published)), 1),
                   **data})
        return
    console = output.console()
    if several:
        _overview(console, data.get("groups") or [])
        if group is None:
            console.print(f"[bold]group {shown.name}[/] (the first; `trunkguard status --group NAME` for another):")
    header = (data.get("headline") or {}).get("calls")
    if header:  # the dashboard's header, in the same words (it says observe mode when observing)
        console.print(f"[bold]{header}.[/]")
    flight = f"  swap to {data['in_flight']['to']} in flight" if data.get("in_flight") else ""
    console.print(f"[bold]routing:[/] {data['active']} carrier ({data['active_trunk_group']}), state "
                  f"{data['state']}{flight}; leader={data['leader']} term={data['term']}")
    _replicas(console, data)
    named = any(t.get("targets") for c in data["carriers"].values() for t in c["trunks"])  # a trunk given by name
    headers = ["carrier", "trunk", "state", "media", "usable", *(["targets"] if named else []), "last",
               "rtt ms (last 5)"]
    rows: list[list[str]] = []
    for role, carrier in data["carriers"].items():
        for t in carrier["trunks"]:
            rtts = " ".join(f"{s['rtt_ms']:.1f}" if s["rtt_ms"] is not None else "-" for s in t["samples"][-5:])
            targets = [_targets(t.get("targets", []))] if named else []
            media = "-" if t["media_ok"] is None else "ok" if t["media_ok"] else "FAILED"
            why = "SIP down" if t["state"] in ("down", "recovering") else "media failed"
            rows.append([role, t["name"], t["state"], media, "yes" if t["usable"] else f"NO: {why}", *targets,
                         t["last_detail"][:40], rtts])
    output.print_table(console, headers, rows)
    if data.get("queued_activation"):
        q = data["queued_activation"]
        console.print(f"[yellow]activation queued[/] for {q['waited_s']}s: {q['active_calls']} active calls, "
                      f"breaker allows fewer than {q['max_active_calls']}")
    if data.get("pending_approval"):
        console.print(f"[yellow]failback waits for approval:[/] trunkguard failback --config {config}"
                      + (f" --group {shown.name}" if several else "") + " --reason ...")
    if data.get("paused"):
        console.print(f"[yellow]paused[/] by {data['paused']['who']}: {data['paused']['why']}")
    console.print(f"last decision: {data['last_sentence']}")


def _overview(console: Console, groups: list[dict[str, Any]]) -> None:
    """A line per routing group (the status's `groups`): where its calls go, its state, whether a person
    must act (the most urgent of its headline's warnings, or no)."""
    rows = []
    for g in groups:
        flight = g.get("in_flight")
        urgent = [a for a in (g.get("headline") or {}).get("act", []) if a["level"] in ("critical", "warning")]
        urgent.sort(key=lambda a: a["level"] != "critical")  # critical first, in their order
        needs = "no" if not urgent else f"{urgent[0]['level'].upper()}: {urgent[0]['sentence']}" + (
            f" (+{len(urgent) - 1} more)" if len(urgent) > 1 else "")
        rows.append([g["name"], f"{g['active']}" + (f" (moving to {flight['to']})" if flight else ""),
                     g["state"] + (f", paused by {g['paused_by']}" if g.get("paused_by") else ""), needs])
    output.print_table(console, ["group", "calls go to", "state", "a person must act"], rows)


def _replicas(console: Console, data: dict[str, Any]) -> None:
    """Who leads (name, term), this replica, every replica and agent with its age; the vantages' count."""
    lease, me = data.get("lease") or {}, data.get("replica") or {}
    members = data.get("replicas") or []
    leader = next((m for m in members if m["holder"] == lease.get("holder")), None)
    if lease.get("holder") is None:
        console.print("[yellow]leader: none[/] (the lease has lapsed; a replica takes it within its TTL)")
    else:
        name = f"{leader['name']} on {leader['host']}, pid {leader['pid']}" if leader else lease["holder"]
        console.print(f"[bold]leader:[/] {name} (term {lease.get('term')}, lease {lease.get('left_s', 0):.1f}s left)"
                      + ("  [this replica]" if lease.get("holder") == me.get("holder") else ""))
    if len(members) > 1 or (members and members[0]["holder"] != me.get("holder")):
        rows = []
        for m in members:
            role = "leader" if m["holder"] == lease.get("holder") else ("vantage" if m["kind"] == "agent" else
                                                                        "standby")
            rows.append([m["name"], m["kind"], m["host"], str(m["pid"]), m["holder"].rsplit("/", 1)[-1],
                         f"{m['age_s']:.1f}s ago", role + (" (this one)" if m["holder"] == me.get("holder") else "")])
        output.print_table(console, ["name", "kind", "host", "pid", "id", "heard", "role"], rows)
    quorum = data.get("vantages")
    if quorum:
        seen = ", ".join(f"{v['name']} {v['state']}" + (f" ({v['why']})" if v["why"] else "")
                         for v in quorum["vantages"])
        console.print(f"[bold]vantages:[/] {quorum['sentence']}; {quorum['need']} of {quorum['of']} needed: {seen}")


def _targets(targets: list[dict[str, Any]]) -> str:
    """`2/2 up`, or the ones not answering by name: `1/2 up; udp:10.0.0.2:5060 down`."""
    if not targets:
        return "-"
    up = sum(t["state"] == "up" for t in targets)
    others = "; ".join(f"{t['target']} {t['state']}" for t in targets if t["state"] != "up")
    return f"{up}/{len(targets)} up" + (f"; {others}" if others else "")


def history(config: Path | None = CONFIG, as_json: bool = JSON,
            limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000, help="Decisions to a page."),
            since: str | None = typer.Option(None, "--since", help="Only the decisions at or after this moment: "
                                                                   "ISO 8601 (2026-11-01T10:00:00Z) or a duration "
                                                                   "back from now (90m, 2h, 1d)."),
            page: int | None = typer.Option(None, "--page", min=1, max=1_000_000,
                                            help="The page, counted back from the newest decisions (1, the "
                                                 "default); 2 holds the N before them."),
            group: str | None = typer.Option(None, "--group", help="Only this routing group's decisions "
                                                                  "(default: every group's).")) -> None:
    """The decisions with their sentences, newest last, a page of N at a time (from the store when the daemon
    does not answer)."""
    cfg = load_or_exit(config)
    name = None if group is None else _chosen(cfg, group).name
    moment = None
    if since is not None:
        try:
            moment = parse_since(since, time.time())
        except ValueError as exc:
            usage_error(f"--since: {exc}")
    query = {"limit": str(limit), **({"since": iso(moment)} if moment is not None else {}),
             **({"page": str(page)} if page is not None else {}), **({"group": name} if name is not None else {})}
    try:
        data = _json_or_fail(_call(cfg, "GET", f"/api/v1/history?{urlencode(query)}", fallback=True))
    except Unreachable as exc:
        from trunkguard.api.view import history_json

        rows, total = _from_store(cfg, lambda store: store.history_page(limit, page or 1, moment, group=name))
        data = {**history_json(rows, total, limit=limit, page=page, since=moment, group=name), "source": "store"}
        if not as_json:
            typer.echo(f"(the daemon at {cfg.api.listen} does not answer: {exc}; read from the store)", err=True)
    if as_json:
        emit_json(data)
        return
    for d in data["decisions"]:
        when = dt.datetime.fromtimestamp(epoch(d["at"])).strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{when}  {d['kind']:<8} {d['sentence']}")
    if data.get("pages", 1) > 1 or page is not None:
        around = [f"older: --page {data['page'] + 1}"] if data["page"] < data["pages"] else []
        around += [f"newer: --page {data['page'] - 1}"] if data["page"] > 1 else []
        typer.echo(f"(page {data['page']} of {data['pages']}, {limit} a page, {count(data['total'], 'decision')}"
                   + (f" since {iso(moment)}" if moment is not None else "")
                   + (f"; {', '.join(around)}" if around else "") + ")")


WAIT = typer.Option(None, "--wait", help="Wait this long (e.g. 60s) for the swap to settle; exit non-zero "
                                          "unless it landed. Without it, return once the daemon has the action.")


def _target(config: Path | None, group: str | None, to: str | None = None) -> tuple[Config, RoutingGroup]:
    """The config and the routing group acted on; `--to` checked against that group's chain. Usage errors
    (exit 2) before anything is asked of a person or the daemon."""
    cfg = load_or_exit(config)
    chosen = _chosen(cfg, group)
    if to is not None and to not in chosen.chain:
        usage_error(f"--to must be one of {_whose(cfg, chosen)} chain's carriers ({', '.join(chosen.chain)}), "
                    f"not {to!r}")
    return cfg, chosen


def _act(kind: str, config: Path | None, reason: str, who: str | None, as_json: bool, wait: str | None = None,
         extra: dict[str, Any] | None = None, queue: bool = False, group: str | None = None) -> None:
    cfg, chosen = _target(config, group, (extra or {}).get("to"))
    if not reason.strip():
        usage_error("--reason must say why")
    several = len(cfg.routing_groups()) > 1
    if queue:  # no daemon: `trunkguard cycle` runs from a scheduler and takes it from the store
        from trunkguard.core.failover import OperatorAction

        action = OperatorAction(kind, who or getpass.getuser(), reason, time.time(),  # type: ignore[arg-type]
                                group=chosen.name)
        _from_store(cfg, lambda store: store.queue_action(action, group=chosen.name),
                    why="cannot queue the action: ")
        sentence = f"{kind} by {action.who} ({reason})" + (f" for group {chosen.name}" if several else "") \
            + ": queued in the store for the next `trunkguard cycle`"
        if as_json:
            emit_json({"ok": True, "queued": True, "sentences": [sentence]})
        else:
            typer.echo(sentence)
        return
    from trunkguard.api.headline import OBSERVE_MODE
    from trunkguard.durations import parse_duration

    try:
        waiting = parse_duration(wait) if wait else 0.0
    except ValueError as exc:
        usage_error(f"--wait: {exc}")
    asked = time.time()
    # named only when it must be: a daemon from before groups refuses a `group` it does not know
    named = group is not None or len(cfg.routing_groups()) > 1
    of_group = f"?{urlencode({'group': chosen.name})}" if named else ""
    known = {str(i.get("key")) for i in
             _json_or_fail(_call(cfg, "GET", f"/api/v1/intents{of_group}")).get("intents", [])} \
        if waiting > 0 else set()
    response = _call(cfg, "POST", "/api/v1/actions", {"kind": kind, "reason": reason, "who": who or getpass.getuser(),
                                                      **(extra or {}), **({"group": chosen.name} if named else {})})
    data = _json_or_fail(response)
    swap: dict[str, Any] | None = None
    # observe mode: the daemon says what it would do and writes nothing, so there is no swap to wait for
    observing = (data.get("status") or {}).get("mode") == "observe"
    if observing and waiting > 0 and not any(s.startswith("observe mode") for s in data["sentences"]):
        data["sentences"].append(f"{OBSERVE_MODE}: no swap will follow, so --wait does not wait")
    if response.status_code == 200 and waiting > 0 and not observing:
        chain = chosen.chain  # a pair's target is known; in a longer chain the daemon picks it
        pair_target = chain[1] if kind == "failover" else chain[0]
        to = (extra or {}).get("to") or (pair_target if len(chain) == 2 else None)
        swap = _settled_swap(cfg, to, asked, waiting, known, of_group)
    landed = swap is None or swap.get("status") in ("applied", "reconciled")
    if as_json:
        emit_json({"ok": response.status_code == 200 and landed, "sentences": data["sentences"], "swap": swap,
                   "mode": "observe" if observing else "act"})
    else:
        for sentence in data["sentences"]:
            typer.echo(sentence)
        if swap is not None:
            typer.echo(f"swap {swap.get('key', '')}: {swap['status']}: {swap.get('outcome', '')}")
    if response.status_code != 200 or not landed:
        raise typer.Exit(EXIT_FAILED)


def _settled_swap(cfg: Config, role: str | None, since: float, waiting: float,
                  known: set[str] | None = None, of_group: str = "") -> dict[str, Any]:
    """The first swap to `role` (None: to any carrier) opened after `since` (and not among the `known`
    keys, read before asking) once it has an outcome (or why none came); `of_group`: the query naming
    the routing group acted on (its swaps and its pair only)."""
    from trunkguard.durations import format_duration

    end = time.monotonic() + waiting
    while True:
        intents = _json_or_fail(_call(cfg, "GET", f"/api/v1/intents{of_group}")).get("intents", [])
        mine = [i for i in intents if role in (None, i.get("to")) and str(i.get("key")) not in (known or set())
                and (known is not None or epoch(i.get("created_at") or 0) >= since - 1)]
        if mine and mine[0].get("status") != "pending":
            return dict(mine[0])
        status = _json_or_fail(_call(cfg, "GET", f"/api/v1/status{of_group}"))
        if not mine and role is not None and status.get("active") == role and status.get("in_flight") is None:
            return {"status": "applied", "outcome": f"routing is already on the {role} carrier"}
        if time.monotonic() > end:
            return {"status": "not settled", "outcome": f"no outcome within {format_duration(waiting)} "
                                                        f"(the daemon says: {status.get('last_sentence', '')})"}
        time.sleep(0.25)


def failover(config: Path | None = CONFIG, reason: str = REASON, who: str | None = WHO, as_json: bool = JSON,
        queue: bool = QUEUE, group: str | None = GROUP,
             force: bool = typer.Option(False, "--force", "-f", help="Do not ask for confirmation."),
             wait: str | None = WAIT,
             skip_gate: list[str] = typer.Option(
                 [], "--skip-gate", help="Skip only this readiness gate: sweep, certs or parity (repeatable); the "
                                         "others are checked, and the failover is refused while they fail. Without "
                                         "it nothing is checked."),
             to: str | None = typer.Option(None, "--to", help="The carrier to move to (default: the next one down "
                                                              "the chain)."),
             ) -> None:
    """Force inbound routing onto the secondary carrier now (readiness and breaker are not checked, or, with
    --skip-gate, every gate but the ones named is)."""
    unknown = [g for g in skip_gate if g not in ("sweep", "certs", "parity")]
    if unknown:
        usage_error(f"--skip-gate {unknown[0]!r}: the gates are sweep, certs and parity")
    if skip_gate and queue:
        usage_error("--skip-gate needs the daemon to check the other gates now; it cannot be queued")
    if to is not None and queue:
        usage_error("--to needs the daemon; it cannot be queued")
    cfg, chosen = _target(config, group, to)  # before asking: a wrong group or carrier is a usage error
    where = f"carrier {to}" if to else "the next carrier down the chain"
    whose = f"group {chosen.name}'s" if len(cfg.routing_groups()) > 1 else ""
    if not force and not typer.confirm(f"Move {whose + ' ' if whose else ''}inbound routing to {where} now?"):
        raise typer.Exit(EXIT_FAILED)
    extra: dict[str, Any] = {"skip_gates": list(skip_gate)} if skip_gate else {}
    _act("failover", config, reason, who, as_json, wait, {**extra, **({"to": to} if to else {})} or None, queue=queue,
         group=group)


def failback(config: Path | None = CONFIG, reason: str = REASON, who: str | None = WHO, as_json: bool = JSON,
        queue: bool = QUEUE, group: str | None = GROUP,
             wait: str | None = WAIT,
             to: str | None = typer.Option(None, "--to", help="The carrier to return to (default: the next one up "
                                                              "the chain; naming a higher one approves a jump)."),
             ) -> None:
    """Approve the return up the chain, to the primary carrier for a pair (runs once the cooling period is
    over and that carrier is healthy)."""
    if to is not None and queue:
        usage_error("--to needs the daemon; it cannot be queued")
    _act("failback", config, reason, who, as_json, wait, {"to": to} if to else None, queue=queue, group=group)


def pause(config: Path | None = CONFIG, reason: str = REASON, who: str | None = WHO, as_json: bool = JSON,
        queue: bool = QUEUE, group: str | None = GROUP) -> None:
    """Stop all automatic actions (a queued activation is dropped) until resumed."""
    _act("pause", config, reason, who, as_json, queue=queue, group=group)


def resume(config: Path | None = CONFIG, reason: str = REASON, who: str | None = WHO, as_json: bool = JSON,
        queue: bool = QUEUE, group: str | None = GROUP) -> None:
    """Turn automatic actions back on."""
    _act("resume", config, reason, who, as_json, queue=queue, group=group)


def cancel(config: Path | None = CONFIG, reason: str = REASON, who: str | None = WHO, as_json: bool = JSON,
        queue: bool = QUEUE, group: str | None = GROUP) -> None:
    """Cancel a queued activation, or withdraw a failback approval."""
    _act("cancel", config, reason, who, as_json, queue=queue, group=group)


def maintenance(trunk: str = typer.Argument(..., help="The trunk's name, as in the config."),
                config: Path | None = CONFIG, reason: str = REASON, who: str | None = WHO, as_json: bool = JSON,
                for_: str = typer.Option("1h", "--for", help="How long (e.g. 30m, 2h); it ends by itself."),
                end: bool = typer.Option(False, "--end", help="End the trunk's maintenance now."),
                group: str | None = GROUP) -> None:
    """Take a trunk out of decisions (its probes go on) until --for has passed, or --end."""
    from trunkguard.durations import parse_duration

    cfg, chosen = _target(config, group)
    names = [t.name for role, _, t in cfg.all_trunks() if role in chosen.chain]
    if trunk not in names:
        usage_error(f"TRUNK must be one of {'the configured' if _whose(cfg, chosen) == 'the' else _whose(cfg, chosen)}"
                    f" trunks ({', '.join(names)}), not {trunk!r}")
    if end:
        _act("maintenance_end", config, reason, who, as_json, extra={"trunk": trunk}, group=group)
        return
    try:
        seconds = parse_duration(for_)
    except ValueError as exc:
        usage_error(f"--for: {exc}")
    _act("maintenance", config, reason, who, as_json, extra={"trunk": trunk, "for_s": seconds}, group=group)


def ack(config: Path | None = CONFIG, reason: str = REASON, who: str | None = WHO, as_json: bool = JSON,
        queue: bool = QUEUE, group: str | None = GROUP) -> None:
    """Acknowledge the incident: PagerDuty and Opsgenie stop escalating; routing is not touched."""
    _act("ack", config, reason, who, as_json, queue=queue, group=group)


def _from_store(cfg: Config, read: Callable[[Store], T], why: str = "the daemon does not answer and ") -> T:
    """Read (or queue into) the config's store as it is: never created nor migrated, no lease. A
    missing store or one without trunkguard's tables is said in words, exit 1."""
    from trunkguard.store import Store, StoreError

    require_store_driver(cfg)
    try:
        store = Store(cfg.storage.url)  # an existing store only (Store.open would create and migrate it)
    except StoreError as exc:
        typer.echo(f"trunkguard: {why}the store cannot be opened: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    try:
        return read(store)
    except StoreError as exc:
        typer.echo(f"trunkguard: {why}the store cannot be read: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        store.close()


def _stored_status(cfg: Config, why: str, as_json: bool, group: str, *, named: bool = False) -> None:
    """patronictl's habit: when the daemon is away, say what the store last recorded and how old it is:
    routing group `group`'s pair (with several groups, each group's at a glance first)."""
    from trunkguard.api.headline import OBSERVE_MODE
    from trunkguard.durations import format_duration

    groups = cfg.routing_groups()
    several = len(groups) > 1

    def read(s: Store) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None, dict[str, list[dict[str, Any]]],
                                tuple[Any, list[dict[str, Any]]]]:
        return s.stored_views(), s.lease(), {g.name: s.history(1, group=g.name) for g in groups}, s.members()

    views, lease, lasts, (_, members) = _from_store(cfg, read)
    view = views.get(group)
    if view is None:
        typer.echo(f"trunkguard: the daemon at {cfg.api.listen} does not answer ({why}) and the store at "
                   "storage.url holds no state yet" + (f" for group {group}" if several else ""), err=True)
        raise typer.Exit(EXIT_FAILED)
    snap = view["snapshot"]
    age = time.time() - view["updated_at"]
    lease_left = None if lease is None else lease["left_s"]  # on the store's clock
    leader = next((m for m in members if lease is not None and m["holder"] == lease["holder"]), None)
    last = lasts.get(group) or []
    if as_json:
        emit_json({"source": "store", "reason": f"the daemon's API does not answer ({why})",
                   "stored_at": iso(view["updated_at"]), "age_s": round(age, 1),
                   **_stored_json(cfg, views, group, lease, members, lasts, why)})
        return
    console = output.console()
    if next(g for g in groups if g.name == group).policy.mode == "observe":
        console.print(f"[bold]{OBSERVE_MODE} (policy.mode in this config)[/]")
    console.print(f"[yellow]stored view[/]: the daemon at {cfg.api.listen} does not answer ({why}); this is what "
                  f"the store recorded {format_duration(round(age))} ago ({iso(view['updated_at'])}, term "
                  f"{view['term']})")
    if several:
        for g in groups:
            stored = views.get(g.name)
            console.print(f"  group {g.name}: " + ("no state stored yet" if stored is None else
                                                   f"{stored['snapshot'].active} carrier, state "
                                                   f"{stored['snapshot'].state.value}"))
        if not named:
            console.print(f"[bold]group {group}[/] (the first; `trunkguard status --group NAME` for another):")
    console.print(f"[bold]routing:[/] {snap.active} carrier "
                  f"({_group_of(cfg, snap.active)}), state {snap.state.value}"
                  + (f"; swap {snap.in_flight.key} was in flight" if snap.in_flight else ""))
    if lease is not None:
        who = leader["name"] if leader else lease["holder"]
        if lease.get("released"):
            console.print(f"lease: released by {who} (term {lease['term']}) when it stopped: no replica is acting")
        else:
            console.print(f"lease: held by {who} (term {lease['term']}), "
                          + (f"expires in {lease_left:.1f}s" if lease_left and lease_left > 0
                             else "expired: no replica is acting"))
    for m in members:
        console.print(f"  {m['kind']} {m['name']} on {m['host']} (pid {m['pid']}): heard {m['age_s']:.1f}s ago")
    if last:
        console.print(f"last decision: {last[-1]['sentence']}")


def _group_of(cfg: Config, carrier: str) -> str:
    """A carrier's trunk group id, or what the store said when the config no longer has that carrier."""
    return cfg.carriers[carrier].trunk_group_id if carrier in cfg.carriers.chain else f"not in the config: {carrier}"


def _stored_json(cfg: Config, views: dict[str, dict[str, Any]], group: str, lease: dict[str, Any] | None,
                 members: list[dict[str, Any]], lasts: dict[str, list[dict[str, Any]]], why: str) -> dict[str, Any]:
    """The stored views (by routing group) with the daemon's status keys (api/view.stored_status_json):
    `group`'s pair at the top level, each group the store has a view of in `groups`, every header
    saying whose record it is."""
    from trunkguard.api.headline import OBSERVE_MODE
    from trunkguard.api.view import stored_status_json
    from trunkguard.config_advice import unconfigured_gates_of
    from trunkguard.core.failover import Readiness
    from trunkguard.durations import format_duration
    from trunkguard.rules import policy_rules
    from trunkguard.runtime.probes import Samples
    from trunkguard.runtime.status import Facts, GroupView, PolicyView, StatusView

    several = len(cfg.routing_groups()) > 1
    kept: list[GroupView] = []
    headlines: dict[str, dict[str, Any]] = {}
    for g in cfg.routing_groups():
        stored = views.get(g.name)
        if stored is None:
            continue
        snap, last = stored["snapshot"], lasts.get(g.name) or []
        policy = PolicyView.of(policy_rules(g.policy, unconfigured=unconfigured_gates_of(cfg, g), chain=g.chain))
        kept.append(GroupView(g.name, g.chain, snap, Readiness(), False, last[-1]["sentence"] if last else "", policy))
        went = f"went to the {snap.active} carrier ({_group_of(cfg, snap.active)}) when the store last heard"
        calls = f"Group {g.name}: calls {went}" if several else f"Calls {went}"
        age = time.time() - stored["updated_at"]
        headlines[g.name] = {
            "level": "warning", "calls": calls + (f"; {OBSERVE_MODE}" if policy.observe else ""),
            "act": [{"level": "warning", "sentence": f"The daemon at {cfg.api.listen} does not answer ({why}): "
                                                     f"this is the store's record, {format_duration(round(age))} "
                                                     "old."}],
            "context": [], "cooling_period": format_duration(policy.cooling_period)}
    top = next(v for v in kept if v.name == group)
    view = StatusView(views[group]["updated_at"], top.pair, (), {}, (), cfg.carriers.groups(), top.policy,
                      Facts(term=views[group]["term"]), Samples({}, {}, {}), calls=None,
                      last_sentence=top.last_sentence, routing_groups=tuple(kept))
    return stored_status_json(view, lease=lease, members=members, headline=headlines[group], group=group,
                              headlines=headlines)
