"""The API's contract: the action request (validated by pydantic) and the OpenAPI document served at
`/api/v1/openapi.json`, which the tests' property-based fuzzer (schemathesis) runs against the
daemon and tests/test_api_contract.py checks the daemon's answers against. Starlette generates no
OpenAPI of its own, so the paths are written here; every schema in it is generated from the pydantic
models (this request, the answers in api/models.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import models_json_schema

from trunkguard.api.models import (
    RESPONSE_MODELS,
    ActionAnswer,
    Checks,
    Health,
    History,
    Intents,
    Leader,
    OpenApiDocument,
    Status,
)

ACTIONS = ("failover", "failback", "pause", "resume", "cancel", "ack", "maintenance", "maintenance_end")
MAX_DAYS = 30


class ActionRequest(BaseModel):
    """A person's action. `trunk` is for maintenance and maintenance_end; `for_s` for maintenance."""

    model_config = ConfigDict(extra="forbid")  # lengths hold for the text as sent, as the document says

    kind: Literal["failover", "failback", "pause", "resume", "cancel", "ack", "maintenance", "maintenance_end"]
    reason: Annotated[str, AfterValidator(str.strip)] = Field(
        min_length=1, max_length=1000, pattern=r"\S", description="why: recorded in the audit trail (not blank)")
    who: str | None = Field(None, max_length=200, description="the person's name for the audit trail")
    trunk: str | None = Field(None, max_length=64, description="maintenance: the configured trunk's name")
    for_s: float | None = Field(None, gt=0, le=MAX_DAYS * 86400, description="maintenance: seconds (default 3600)")
    skip_gates: list[Literal["sweep", "certs", "parity"]] = Field(
        default_factory=list, max_length=3, description="failover: skip only these readiness gates (the others are "
                                                        "checked); none: a forced failover checks none")
    to: str | None = Field(None, max_length=64, description="failover: the carrier to move to (default: the next "
                                                            "one down the group's chain); failback: the carrier to "
                                                            "return to (default: the next one up; a higher one is a "
                                                            "jump); one of the group's chain")
    group: str | None = Field(None, max_length=64, description="the routing group to act on (default: the only one; "
                                                               "required when the deployment has several)")

    @model_validator(mode="after")
    def _skip_only_for_failover(self) -> ActionRequest:
        if self.skip_gates and self.kind != "failover":
            raise ValueError("skip_gates is only for a failover")
        if self.to is not None and self.kind not in ("failover", "failback"):
            raise ValueError("to is only for a failover or a failback")
        return self


LIMIT_MAX = 10_000
PAGE_MAX = 1_000_000
ERROR = {"$ref": "#/components/schemas/ErrorBody"}


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _text(media_type: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "string", "minLength": 1}}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _group_param(groups: tuple[str, ...], description: str) -> dict[str, Any]:
    return _query("group", {"type": "string", "enum": list(groups)}, description)


def status_params(carriers: tuple[str, ...], groups: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        _query("carrier", {"type": "string", "enum": list(carriers)}, "that carrier only"),
        _query("trunk", {"type": "string"}, "that trunk only, in full, with its RTT history"),
        _query("samples", {"type": "integer", "minimum": 0, "maximum": 60},
               "every trunk selected in full, with its last N samples"),
        _query("problems", {"type": "string", "enum": ["0", "1"]}, "1: only the trunks not UP or not usable, in full"),
        _group_param(groups, "that routing group's view: its chain's carriers only, and the pair fields (state, "
                             "active, headline, ...) are the group's (default: the first group's, every carrier)"),
    ]


def history_params(groups: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        _query("limit", {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX}, "decisions to a page (default 50)"),
        _query("since", {"type": "string"}, "only the decisions at or after this moment: ISO 8601 "
                                            "(2026-11-01T10:00:00Z; no offset is UTC) or a duration back from now "
                                            "(90m, 2h, 1d)"),
        _query("page", {"type": "integer", "minimum": 1, "maximum": PAGE_MAX},
               "the page, counted back from the newest decisions (1, the default)"),
        _group_param(groups, "only that routing group's decisions (default: every group's)"),
    ]


def openapi(*, reads_need_token: bool = False, open_endpoints: frozenset[str] = frozenset(),
            carriers: tuple[str, ...] = ("primary", "secondary"), groups: tuple[str, ...] = ("default",)
            ) -> dict[str, Any]:
    """The document for this daemon's settings: whether its reads need a token, which endpoints are open,
    its carriers and its routing groups (the values `carrier` and `group` may take). Its schemas are
    generated from the request model above and the response models (api/models.py); every operation
    has an `operationId` (camel case, the method and what it reaches) and every 4xx and 5xx refers to
    `ErrorBody`."""
    models: list[type[BaseModel]] = [ActionRequest, *RESPONSE_MODELS]
    _, defs = models_json_schema([(m, "validation") for m in models],
                                 ref_template="#/components/schemas/{model}")
    action = defs["$defs"]["ActionRequest"]["properties"]
    action["group"] = {**action["group"], "anyOf": [{"type": "string", "enum": list(groups)}, {"type": "null"}]}

    def _read(operation: str, summary: str, ok: dict[str, Any], *, store: bool = False,
              params: list[dict[str, Any]] | None = None, name: str = "",
              other: dict[str, Any] | None = None) -> dict[str, Any]:
        responses = {"200": ok, **(other or {})}
        if params:
            responses["400"] = _json(ERROR, "an unknown query parameter, or one out of its range (named)")
        else:
            responses["400"] = _json(ERROR, "an unknown query parameter")
        if store:
            responses["503"] = _json(ERROR, "the store did not answer")
        op: dict[str, Any] = {"operationId": operation, "summary": summary, "responses": responses}
        if params:
            op["parameters"] = params
        if reads_need_token and name not in open_endpoints:
            op["security"] = [{"bearer": []}]
            responses["401"] = _json(ERROR, "the read or operator token is required")
        return {"get": op}

    return {
        "openapi": "3.1.0",
        "info": {"title": "trunkguard", "version": "1",
                 "description": "The daemon's local API. Reads need the read or operator token when "
                                "`api.read_token_env` is set; actions need the operator token. Moments are "
                                "ISO 8601 in UTC; durations are seconds (`*_s`). Every 4xx and 5xx answers "
                                "`ErrorBody`."},
        "servers": [{"url": "/"}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": defs["$defs"]},
        "paths": {
            "/api/v1/status": _read("getStatus", "the pair state, every trunk's state, what waits on a person",
                                    _json(_ref(Status), "the status"), params=status_params(carriers, groups)),
            "/api/v1/history": _read("getHistory", "decisions with their sentences and evidence, a page at a time, "
                                                   "oldest first", _json(_ref(History), "one page"), store=True,
                                     params=history_params(groups)),
            "/api/v1/intents": _read("getIntents", "swaps with their outcome, and the operators' actions",
                                     _json(_ref(Intents), "the newest swaps and actions"), store=True,
                                     params=[_group_param(groups, "only that routing group's swaps and actions "
                                                                  "(default: every group's)")]),
            "/api/v1/checks": _read("getChecks", "the latest DID sweep, certificate and parity results",
                                    _json(_ref(Checks), "each check's latest result"), store=True),
            "/api/v1/events": _read("getEvents", "server-sent events for the dashboard: `status` (as "
                                                 "/api/v1/status, without trunks) on change, `trunks` that changed, "
                                                 "`history` on a new decision, `tick` each second; it does not end",
                                    _text("text/event-stream", "an endless event stream")),
            "/api/v1/actions": {"post": {
                "operationId": "postAction",
                "summary": "a person's action, carried out by the daemon and recorded with who and why",
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(ActionRequest)}}},
                "responses": {
                    "200": _json(_ref(ActionAnswer), "done"),
                    "400": _json(ERROR, "not an action this API takes (the error says why): an unknown "
                                        "routing group, or none named when the deployment has several, too"),
                    "401": _json(ERROR, "the operator token is required"),
                    "403": _json(ERROR, "this token may only read"),
                    "409": _json(_ref(ActionAnswer), "refused by the policy (the first sentence says why)"),
                    "413": _json(ERROR, "the body is over api.max_body"),
                    "415": _json(ERROR, "the body is not JSON"),
                    "503": _json(ERROR, "this replica does not hold the lease, or the daemon was too slow"),
                }}},
            "/leader": _read("getLeader", "200 on the replica holding the lease, 503 elsewhere",
                             _json(_ref(Leader), "the leader"), name="leader",
                             other={"503": _json(_ref(Leader), "a standby")}),
            "/metrics": _read("getMetrics", "Prometheus metrics", _text("text/plain", "the exposition format"),
                              name="metrics"),
            "/api/v1/openapi.json": {"get": {"operationId": "getOpenApi", "summary": "this document",
                                             "responses": {"200": _json(_ref(OpenApiDocument), "it")}}},
            "/healthz": {"get": {"operationId": "getHealth",
                                 "summary": "liveness: 200 while the daemon's loop answers; no token",
                                 "responses": {"200": _json(_ref(Health), "alive, with leader and store_ok")}}},
            "/": {"get": {"operationId": "getDashboard", "summary": "the dashboard: one page fed by /api/v1/events",
                          "responses": {"200": _text("text/html", "the page")}}},
        },
    }
