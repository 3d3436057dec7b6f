"""The seed's composite rules: what kind of problem an alert shows, and how severe it is.

The seed's Flink job classifies a publisher's minute by RPM, fill rate and latency together
(``DEMAND_ISSUE`` when RPM < 30 and fill rate < 0.8, ``LATENCY_ISSUE`` when RPM < 30 and latency
> 3000 ms, ``PRICING_ISSUE`` when RPM < 30 and fill rate > 0.9, first match wins) and its
EventBridge rule treats more than two affected metrics as critical. Here those rules are YAML
(``DEFAULT_RULES`` holds the seed's thresholds); a rule matches an alert when every condition
holds on the entity's 5-minute sliding means and at least one of its metrics is among the
alert's anomalous ones (so a condition that always holds on some network cannot classify a
quiet minute).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

WATCHED: tuple[str, ...] = (
    "requests",
    "rpm",
    "fill_rate",
    "bid_latency_ms",
    "error_rate",
    "timeout_rate",
    "cache_hit_rate",
    "ivt_rate",
    "floor_reject_rate",
    "capacity_utilisation",
)
Severity = Literal["critical", "high", "medium", "low"]
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_CONDITION = re.compile(r"^\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)\s*$")

DEFAULT_RULES = """\
# The seed's composite rules (Flink CASE, first match wins) and severity (EventBridge).
rules:
  - name: DEMAND_ISSUE
    when: {rpm: "< 30", fill_rate: "< 0.8"}
  - name: LATENCY_ISSUE
    when: {rpm: "< 30", bid_latency_ms: "> 3000"}
  - name: PRICING_ISSUE
    when: {rpm: "< 30", fill_rate: "> 0.9"}
severity:
  critical_over_metrics: 2   # more than two metrics affected
  high_at_metrics: 2
  high_at_score: 0.8
"""


class CompositeRuleError(ValueError):
    """A composite rule file is not valid YAML or not a valid rule set (the message says where)."""


class Condition(BaseModel):
    """``metric op threshold`` on a 5-minute sliding mean."""

    model_config = ConfigDict(frozen=True)

    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)


class CompositeRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")
    when: dict[str, str] = Field(min_length=1)

    @field_validator("when")
    @classmethod
    def _conditions(cls, when: dict[str, str]) -> dict[str, str]:
        for metric, text in when.items():
            if metric not in WATCHED:
                raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(WATCHED)}")
            if not isinstance(text, str) or not _CONDITION.match(text):
                raise ValueError(f"{metric}: condition {text!r} is not like '< 30' or '>= 0.9'")
        return when

    def conditions(self) -> dict[str, Condition]:
        out = {}
        for metric, text in self.when.items():
            match = _CONDITION.match(text)
            assert match is not None  # checked by the validator
            out[metric] = Condition(op=match.group(1), threshold=float(match.group(2)))
        return out


class SeverityPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    critical_over_metrics: int = Field(2, ge=1, le=len(WATCHED))
    high_at_metrics: int = Field(2, ge=1, le=len(WATCHED))
    high_at_score: float = Field(0.8, gt=0.0, le=1.0)


class CompositeRules(BaseModel):
    """A rule set: classification rules in order, and the severity policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: list[CompositeRule] = Field(default_factory=list, max_length=100)
    severity: SeverityPolicy = Field(default_factory=lambda: SeverityPolicy.model_validate({}))

    def classify(self, anomalous: Mapping[str, float], sliding: Mapping[str, float]) -> str:
        """The first rule whose conditions hold on ``sliding`` and that names an anomalous
        metric; ``UNKNOWN`` otherwise."""
        for rule in self.rules:
            conditions = rule.conditions()
            if not any(metric in anomalous for metric in conditions):
                continue
            if all(
                metric in sliding and cond.holds(sliding[metric])
                for metric, cond in conditions.items()
            ):
                return rule.name
        return "UNKNOWN"

    def severity_of(self, anomalous: Mapping[str, float]) -> Severity:
        """Severity from how many metrics are anomalous and how strongly (scores in [0, 1])."""
        policy = self.severity
        top = max(anomalous.values(), default=0.0)
        if len(anomalous) > policy.critical_over_metrics:
            return "critical"
        if len(anomalous) >= policy.high_at_metrics or top >= policy.high_at_score:
            return "high"
        return "medium"


def parse_rules(text: str) -> CompositeRules:
    """Parse and validate a rule file; :class:`CompositeRuleError` says what is wrong and where."""
    try:
        body: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CompositeRuleError(f"invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(body, dict):
        raise CompositeRuleError("a rule file is a mapping with 'rules' and 'severity'")
    try:
        return CompositeRules.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise CompositeRuleError(f"{where}: {message}") from None


def default_rules() -> CompositeRules:
    return parse_rules(DEFAULT_RULES)
