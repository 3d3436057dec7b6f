"""What every AdOps tool shares: its typed schemas, risk level, context and result.

A tool is a class with an ``Input`` and an ``Output`` pydantic model, a ``risk`` (low, medium,
high), a ``kind`` (``diagnostic`` tools only read; ``remediation`` tools return the
control-plane change they would make) and a description the LLM planner is shown. Tools never
write the control plane themselves: :class:`~ssmas.adops.safety.executor.SafeExecutor` applies a
remediation's change after its checks, records the undo computed here, and verifies it.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ssmas.adops.tools.floors import FloorPort, pricing_floors
from ssmas.core.notify import Notification, Notifier
from ssmas.exchange.control_plane import ControlPlane
from ssmas.exchange.knobs import ControlState
from ssmas.exchange.world import World

Risk = Literal["low", "medium", "high"]
RISK_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2}
Kind = Literal["diagnostic", "remediation"]
BASELINE_GAP = timedelta(minutes=15)  # a baseline ends this long before the incident opened
BASELINE_SPAN = timedelta(minutes=60)


class ToolError(ValueError):
    """A tool call that cannot run: unknown tool, invalid arguments, nothing to act on."""


class UnknownTool(ToolError):
    """No tool of that name."""


class InvalidArguments(ToolError):
    """The arguments do not match the tool's input schema."""


class ToolInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str


class MetricsView:
    """The recent metric points of every entity, as the agents see the ``metrics.adops`` stream."""

    def __init__(self, keep_minutes: int = 240) -> None:
        self._keep = keep_minutes
        self._rows: dict[tuple[str, str], deque[tuple[datetime, dict[str, Any]]]] = {}
        self.last: datetime | None = None

    def add(self, points: Iterable[Mapping[str, Any]]) -> None:
        for point in points:
            raw = point["ts"]
            ts = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
            key = (str(point["entity_type"]), str(point["entity_id"]))
            rows = self._rows.get(key)
            if rows is None:
                rows = self._rows[key] = deque(maxlen=self._keep)
            rows.append((ts, dict(point)))
            if self.last is None or ts > self.last:
                self.last = ts

    def entities(self, entity_type: str) -> list[str]:
        return sorted(eid for etype, eid in self._rows if etype == entity_type)

    def values(
        self, entity_type: str, entity_id: str, metric: str, start: datetime, end: datetime
    ) -> list[float]:
        rows = self._rows.get((entity_type, entity_id), ())
        return [float(p[metric]) for ts, p in rows if start <= ts < end and metric in p]

    def recent(
        self, entity_type: str, entity_id: str, metric: str, minutes: int = 3
    ) -> float | None:
        """Mean of the last ``minutes`` points (None when the entity has none)."""
        rows = self._rows.get((entity_type, entity_id))
        if not rows:
            return None
        tail = [float(p[metric]) for _, p in list(rows)[-minutes:] if metric in p]
        return sum(tail) / len(tail) if tail else None

    def baseline(
        self, entity_type: str, entity_id: str, metric: str, reference: datetime
    ) -> float | None:
        """Median over the hour that ends :data:`BASELINE_GAP` before ``reference``."""
        end = reference - BASELINE_GAP
        found = self.values(entity_type, entity_id, metric, end - BASELINE_SPAN, end)
        return statistics.median(found) if found else None


@dataclass
class ToolContext:
    """What a tool may read: the world, the control plane, the metrics and the clock."""

    world: World
    plane: ControlPlane
    metrics: MetricsView
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    reference: datetime | None = None  # when the incident opened: baselines end before it
    notifier: Notifier | None = None
    sent: list[Notification] = field(default_factory=list)
    floors: FloorPort | None = None  # pricing's floor service; None: pricing's, in process

    def floor_port(self) -> FloorPort:
        """Where floors are set: pricing's API when configured, else its service in process."""
        if self.floors is None:
            self.floors = pricing_floors(self.world, self.plane)
        return self.floors

    @property
    def ref(self) -> datetime:
        return self.reference or self.metrics.last or self.clock()

    def state(self) -> ControlState:
        return self.plane.current().state

    def deviation(self, entity_type: str, entity_id: str, metric: str) -> tuple[float, float]:
        """``(recent, baseline)`` of a metric (0.0 for what is unknown)."""
        recent = self.metrics.recent(entity_type, entity_id, metric)
        base = self.metrics.baseline(entity_type, entity_id, metric, self.ref)
        return (recent or 0.0, base if base is not None else (recent or 0.0))

    def revenue_share(self, entity_type: str, entity_id: str) -> float:
        """The entity's share of the exchange's revenue over the baseline hour."""
        end = self.ref - BASELINE_GAP
        mine = sum(
            self.metrics.values(entity_type, entity_id, "revenue_eur", end - BASELINE_SPAN, end)
        )
        total = sum(
            self.metrics.values("exchange", "exchange", "revenue_eur", end - BASELINE_SPAN, end)
        )
        return mine / total if total > 0 else 0.0


class Tool(ABC):
    """Base of every tool; subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str]
    description: ClassVar[str]
    risk: ClassVar[Risk] = "low"
    kind: ClassVar[Kind] = "diagnostic"
    reversible: ClassVar[bool] = True
    Input: ClassVar[type[ToolInput]] = ToolInput
    Output: ClassVar[type[ToolOutput]] = ToolOutput

    def parse(self, args: Mapping[str, Any] | None) -> ToolInput:
        try:
            return self.Input.model_validate(dict(args or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "arguments"
            raise InvalidArguments(f"{self.name}: {where}: {first['msg']}") from None

    @abstractmethod
    def run(self, ctx: ToolContext, args: ToolInput) -> ToolOutput:
        """Diagnostics: the finding. Remediations: what the change will do (a dry run)."""

    # ---- remediation side ----------------------------------------------------------
    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        """The control-plane change this call makes (remediations only)."""
        raise ToolError(f"{self.name} is a diagnostic tool: it changes nothing")

    def target(self, args: ToolInput) -> str:
        """What the call acts on, for cooldowns and rate limits (``kind:id``)."""
        return f"tool:{self.name}"

    def blast_radius(self, ctx: ToolContext, args: ToolInput) -> float:
        """Share of the exchange's revenue the action puts at stake (0 to 1)."""
        return 0.0

    def apply(self, ctx: ToolContext, change: dict[str, Any], *, actor: str, reason: str) -> int:
        """Make ``change`` (this tool's, or its undo) real; returns the control-plane version
        that carries it. Most tools write the control plane; a tool whose knob another product
        owns goes through that product (``floor_rollback``: pricing)."""
        return ctx.plane.apply(change, actor=actor, reason=reason, at=None).version

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "risk": self.risk,
            "kind": self.kind,
            "reversible": self.reversible,
            "input_schema": self.Input.model_json_schema(),
            "output_schema": self.Output.model_json_schema(),
        }


def undo_of(ctx: ToolContext, change: Mapping[str, Any]) -> dict[str, Any]:
    """The change that puts back what ``change`` is about to overwrite (world defaults for
    entries that were never set)."""
    state = ctx.state()
    world = ctx.world
    current = state.model_dump(mode="json")
    defaults: dict[str, Callable[[str], Any]] = {
        "partner_weights": lambda _k: 1.0,
        "circuit_breakers": lambda _k: False,
        "floors": lambda k: world.default_floors[k],
        "ad_unit_sizes": lambda k: next(u.size for u in world.ad_units if u.ad_unit_id == k),
        "feature_flags": lambda k: state.flag(k),
    }
    undo: dict[str, Any] = {}
    for knob, value in change.items():
        if knob in defaults:
            undo[knob] = {
                k: current[knob][k] if k in current[knob] else defaults[knob](k) for k in value
            }
        elif knob == "cache_policy":
            undo[knob] = {k: current[knob][k] for k in value}
        else:
            undo[knob] = current[knob]
    return undo


def idempotency_key(incident_id: str, tool: str, args: Mapping[str, Any]) -> str:
    """The same tool with the same arguments for the same incident is one action."""
    body = json.dumps({"i": incident_id, "t": tool, "a": args}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:40]


_REGISTRY: dict[str, Tool] = {}


def register(tool_class: type[Tool]) -> type[Tool]:
    tool = tool_class()
    if tool.name in _REGISTRY:
        raise ValueError(f"two tools named {tool.name}")
    _REGISTRY[tool.name] = tool
    return tool_class


def registry() -> dict[str, Tool]:
    from ssmas.adops.tools import diagnostics, remediation  # noqa: F401  (registers them)

    return dict(_REGISTRY)


def get_tool(name: str) -> Tool:
    tools = registry()
    if name not in tools:
        raise UnknownTool(f"unknown tool {name!r}; see the tool catalogue ({len(tools)} tools)")
    return tools[name]
