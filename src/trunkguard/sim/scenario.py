"""The scenario file: timed world conditions per trunk, live-call counts and operator actions.

```yaml
duration: 86400          # seconds
seed: 1                  # optional; --seed overrides
events:                  # in time order; all trunks start "up", active calls start at 0
  - {at: 0, trunk: primary-1, condition: {loss: 0.3}}
  - {at: 3600, trunk: primary-1, condition: down}
  - {at: 3700, active_calls: 12}
  - {at: 5000, operator: failback}              # a chain: `to: carrier-a` approves a jump up
  - {at: 6000, operator: maintenance, trunk: primary-1, for: 10m, reason: "SBC work"}
  - {at: 6300, operator: maintenance_end, trunk: primary-1}
  - {at: 7000, operator: pause, group: emea}     # with routing groups: the group a person acts on
```
Conditions: `up`, `down` (no reply at all), `media_down` (SIP answers, RTP never arrives),
`{loss: P}` (each probe lost with probability P), `{code: N}` (every probe answered with final
code N), `{latency_ms: N}` (answers N ms late). A condition holds until that trunk's next event.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from trunkguard.config_errors import FieldRule, describe
from trunkguard.durations import parse_duration
from trunkguard.errors import ConfigError
from trunkguard.yamlfile import YamlRefused, load_yaml, read_file


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["up", "down", "media_down", "loss", "rtp_loss", "code", "latency"]
    value: float = 0.0

    def describe(self) -> str:
        if self.kind == "loss":
            return f"{self.value:.0%} probe loss"
        if self.kind == "rtp_loss":
            return f"{self.value:.0%} RTP packet loss"
        if self.kind == "code":
            return f"answers {int(self.value)}"
        if self.kind == "latency":
            return f"{self.value:g} ms latency"
        return self.kind.replace("_", " ")


def _condition(value: Any) -> Any:
    if isinstance(value, str):
        if value not in ("up", "down", "media_down"):
            raise ValueError(f"{value!r} is not a condition: use up, down, media_down, {{loss: P}}, "
                             "{rtp_loss: P}, {code: N} or {latency_ms: N}")
        return {"kind": value}
    if isinstance(value, dict) and len(value) == 1:
        (key, number), = value.items()
        if key in ("loss", "rtp_loss") and isinstance(number, int | float) and 0 <= number <= 1:
            return {"kind": key, "value": number}
        if key == "code" and isinstance(number, int) and 100 <= number <= 699:
            return {"kind": "code", "value": number}
        if key == "latency_ms" and isinstance(number, int | float) and number >= 0:
            return {"kind": "latency", "value": number}
        raise ValueError(f"{value!r}: loss and rtp_loss are 0..1, code is 100..699, latency_ms is 0 or more")
    raise ValueError(f"{value!r} is not a condition")


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: float = Field(ge=0)
    trunk: str | None = None
    condition: Annotated[Condition | None, Field(default=None)] = None
    active_calls: int | None = Field(None, ge=0)
    operator: Literal["failover", "failback", "pause", "resume", "cancel", "ack", "maintenance",
                      "maintenance_end"] | None = None
    who: str = "scenario"
    reason: str = "scenario step"
    to: str | None = Field(None, description="failover/failback: the carrier a person names (a chain's jump)")
    group: str | None = Field(None, description="an operator's action: the routing group it acts on (needed when "
                                                "the config has several; a trunk is named alone: names are unique)")
    for_: Annotated[float | None, BeforeValidator(lambda v: None if v is None else parse_duration(v))] = Field(
        None, alias="for", description="maintenance: how long it lasts (it ends by itself); none: until ended")

    @model_validator(mode="before")
    @classmethod
    def _parse_condition(cls, data: Any) -> Any:
        if isinstance(data, dict) and "condition" in data and not isinstance(data["condition"], Condition):
            try:
                data = {**data, "condition": _condition(data["condition"])}
            except ValueError as exc:
                raise FieldRule("condition", str(exc)) from None
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Event:
        kinds = [self.condition is not None, self.active_calls is not None, self.operator is not None]
        if sum(kinds) != 1:
            raise FieldRule("at", "each event sets exactly one of: trunk + condition, active_calls, operator")
        maintenance = self.operator in ("maintenance", "maintenance_end")
        if maintenance and self.trunk is None:
            raise FieldRule("trunk", f"operator {self.operator} needs the trunk it is about")
        if self.group is not None and self.operator is None:
            raise FieldRule("group", "is only for an operator's action (a trunk is named by its name alone)")
        if self.to is not None and self.operator not in ("failover", "failback"):
            raise FieldRule("to", "is only for operator failover or failback")
        if self.for_ is not None and self.operator != "maintenance":
            raise FieldRule("for", "is only for operator maintenance")
        if self.for_ is not None and self.for_ <= 0:
            raise FieldRule("for", "must be more than 0")
        if not maintenance and (self.condition is None) != (self.trunk is None):
            raise FieldRule("trunk", "a condition needs a trunk, and a trunk needs a condition")
        return self


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    duration: float = Field(gt=0, le=365 * 86400)
    seed: int | None = None
    events: list[Event] = []

    @model_validator(mode="after")
    def _ordered(self) -> Scenario:
        for i in range(1, len(self.events)):
            if self.events[i].at < self.events[i - 1].at:
                raise FieldRule(f"events[{i}].at", "events must be in time order")
        for i, event in enumerate(self.events):
            if event.at > self.duration:
                raise FieldRule(f"events[{i}].at", f"is after the scenario's duration ({self.duration:g})")
        return self

    def check_trunks(self, names: Collection[str], source: str = "scenario", groups: Sequence[str] = ()) -> None:
        """Every trunk an event names is one of `names` (the config's trunks), and every operator's action
        names one of `groups` (the config's routing groups) when there are several."""
        problems = [(f"events[{i}].trunk", f"{e.trunk!r} is not a trunk of the config ({', '.join(sorted(names))})")
                    for i, e in enumerate(self.events) if e.trunk is not None and e.trunk not in names]
        for i, e in enumerate(self.events):
            if e.operator is None or (len(groups) < 2 and e.group is None):
                continue
            if e.group is None:
                problems.append((f"events[{i}].group", f"is required: the config has {len(groups)} routing groups "
                                                       f"({', '.join(groups)})"))
            elif e.group not in groups:
                problems.append((f"events[{i}].group", f"{e.group!r} is not a routing group of the config "
                                                       f"({', '.join(groups)})"))
        if problems:
            raise ConfigError(problems, source)


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = load_yaml(read_file(path))
    except OSError as exc:
        raise ConfigError([(str(path), f"cannot read: {exc.strerror or exc}")], str(path)) from None
    except YamlRefused as exc:
        raise ConfigError([(exc.where, exc.rule)], str(path)) from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, Scenario), str(path)) from None
