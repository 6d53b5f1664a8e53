"""The API's contract: the action request (validated by pydantic) and the OpenAPI document served at
`/api/v1/openapi.json`, which the tests' property-based fuzzer (schemathesis) runs against the
daemon. Starlette generates no OpenAPI of its own, so the document is written here, next to the
model its request schema comes from."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ACTIONS = ("failover", "failback", "pause", "resume", "cancel", "ack", "maintenance", "maintenance_end")
MAX_DAYS = 30


class ActionRequest(BaseModel):
    """A person's action. `trunk` is for maintenance and maintenance_end; `for_s` for maintenance."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["failover", "failback", "pause", "resume", "cancel", "ack", "maintenance", "maintenance_end"]
    reason: str = Field(min_length=1, max_length=1000, description="why: recorded in the audit trail")
    who: str | None = Field(None, max_length=200, description="the person's name for the audit trail")
    trunk: str | None = Field(None, max_length=64, description="maintenance: the configured trunk's name")
    for_s: float | None = Field(None, gt=0, le=MAX_DAYS * 86400, description="maintenance: seconds (default 3600)")
    skip_gates: list[Literal["sweep", "certs", "parity"]] = Field(
        default_factory=list, max_length=3, description="failover: skip only these readiness gates (the others are "
                                                        "checked); none: a forced failover checks none")
    to: str | None = Field(None, max_length=64, description="failover: the carrier to move to (default: the next "
                                                            "one down the chain); failback: the carrier to return to "
                                                            "(default: the next one up; a higher one is a jump)")

    @model_validator(mode="after")
    def _skip_only_for_failover(self) -> ActionRequest:
        if self.skip_gates and self.kind != "failover":
            raise ValueError("skip_gates is only for a failover")
        if self.to is not None and self.kind not in ("failover", "failback"):
            raise ValueError("to is only for a failover or a failback")
        return self


_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_OBJECT = {"type": "object"}
LIMIT_MAX = 10_000


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _metrics(path: dict[str, Any]) -> dict[str, Any]:
    """/metrics answers in Prometheus' text format, not JSON."""
    path["get"]["responses"]["200"] = {"description": "the exposition format",
                                       "content": {"text/plain": {"schema": {"type": "string"}}}}
    return path


def _events(op: dict[str, Any]) -> dict[str, Any]:
    op["get"]["responses"]["200"] = {"description": "an endless text/event-stream",
                                     "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    return op


def openapi(*, reads_need_token: bool = False, open_endpoints: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The document for this daemon's settings: whether its reads need a token, which endpoints are open."""
    request = ActionRequest.model_json_schema()

    def _read(summary: str, ok: dict[str, Any], *, store: bool = False, params: list[dict[str, Any]] | None = None,
              name: str = "", other: dict[str, Any] | None = None) -> dict[str, Any]:
        responses = {"200": _json(ok, "the answer"), "400": _json(_ERROR, "an unknown query parameter, or one out of "
                                                                          "its range"), **(other or {})}
        if store:
            responses["503"] = _json(_ERROR, "the store did not answer")
        op: dict[str, Any] = {"summary": summary, "responses": responses}
        if params:
            op["parameters"] = params
        if reads_need_token and name not in open_endpoints:
            op["security"] = [{"bearer": []}]
            responses["401"] = _json(_ERROR, "the read or operator token is required")
        return {"get": op}

    return {
        "openapi": "3.1.0",
        "info": {"title": "trunkguard", "version": "1",
                 "description": "The daemon's local API. Reads need the read or operator token when "
                                "`api.read_token_env` is set; actions need the operator token."},
        "servers": [{"url": "/"}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/api/v1/status": _read("the pair state, every trunk with its RTT history, what waits on a person",
                                    {"type": "object", "required": ["state", "active", "carriers"]}),
            "/api/v1/history": _read("decisions with their sentences and evidence, newest last",
                                     {"type": "object", "required": ["decisions"]}, store=True,
                                     params=[{"name": "limit", "in": "query", "required": False,
                                              "schema": {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX}}]),
            "/api/v1/intents": _read("swaps with their outcome, and the operators' actions",
                                     {"type": "object", "required": ["intents", "operator_actions"]}, store=True),
            "/api/v1/checks": _read("the latest DID sweep, certificate and parity results", _OBJECT, store=True),
            "/api/v1/events": _events(_read("server-sent events for the dashboard: `status` (as /api/v1/status) "
                                            "on change and every 5 s, `history` on a new decision, `tick` each "
                                            "second; it does not end", _OBJECT)),
            "/api/v1/actions": {"post": {
                "summary": "a person's action, carried out by the daemon and recorded with who and why",
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": request}}},
                "responses": {
                    "200": _json({"type": "object", "required": ["sentences", "status"]}, "done"),
                    "400": _json(_ERROR, "not an action this API takes (the reason says why)"),
                    "401": _json(_ERROR, "the operator token is required"),
                    "409": _json({"type": "object", "required": ["sentences"]}, "refused by the policy"),
                    "413": _json(_ERROR, "the body is over api.max_body"),
                    "415": _json(_ERROR, "the body is not JSON"),
                    "503": _json(_ERROR, "this replica does not hold the lease, or the daemon was too slow"),
                }}},
            "/leader": _read("200 on the replica holding the lease, 503 elsewhere", _OBJECT, name="leader",
                             other={"503": _json(_OBJECT, "a standby")}),
            "/metrics": _metrics(_read("Prometheus metrics", _OBJECT, name="metrics")),
            "/api/v1/openapi.json": {"get": {"summary": "this document", "responses": {"200": _json(_OBJECT, "it")}}},
            "/healthz": {"get": {"summary": "liveness: 200 while the daemon's loop answers; no token",
                                 "responses": {"200": _json(_OBJECT, "alive, with leader and store_ok")}}},
        },
    }
