"""Fault scenarios with ground truth: what can break, what it affects, and how it is labelled.

A ``Fault`` is a labelled window on one entity. World faults (outages, latency, invalid traffic,
cache, capacity, decay) act on the simulated conditions; configuration faults (floor too high,
broken ad unit) are written into the control plane by the injector, so a remediation that writes
a newer version undoes them, exactly as in production.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ssmas.exchange import catalog
from ssmas.exchange.world import World

FaultKindName = Literal[
    "partner_outage",
    "partner_latency_spike",
    "floor_too_high",
    "ad_unit_misconfiguration",
    "invalid_traffic_surge",
    "cache_collapse",
    "capacity_saturation",
    "rpm_decay",
]
EntityType = Literal["partner", "ad_unit", "publisher", "exchange"]


class FaultError(ValueError):
    """A fault scenario is unknown or its parameters are invalid."""


@dataclass(frozen=True)
class FaultKind:
    """What a scenario acts on, the metrics that show it and the knob that remedies it."""

    entity_type: EntityType
    signature: tuple[str, ...]
    remedy: str
    description: str


FAULT_KINDS: dict[str, FaultKind] = {
    "partner_outage": FaultKind(
        "partner", ("error_rate", "rpm"), "circuit_breakers", "partner endpoint fails every call"
    ),
    "partner_latency_spike": FaultKind(
        "partner",
        ("bid_latency_ms", "timeout_rate", "partner_timeouts"),
        "partner_weights",
        "partner answers five times slower, past the auction timeout",
    ),
    "floor_too_high": FaultKind(
        "ad_unit", ("fill_rate", "rpm"), "floors", "ad unit floor set twenty times too high"
    ),
    "ad_unit_misconfiguration": FaultKind(
        "ad_unit", ("fill_rate", "rpm"), "ad_unit_sizes", "ad unit declared as 1x1: no demand"
    ),
    "invalid_traffic_surge": FaultKind(
        "publisher",
        ("requests", "fill_rate", "rpm"),
        "blocked_sources",
        "bot network triples a publisher's requests",
    ),
    "cache_collapse": FaultKind(
        "exchange",
        ("cache_hit_rate", "bid_latency_ms", "rpm"),
        "cache_policy",
        "primary identity cache loses its entries",
    ),
    "capacity_saturation": FaultKind(
        "exchange",
        ("error_rate", "bid_latency_ms", "fill_rate"),
        "capacity_units",
        "serving pool loses nodes while retries raise the load",
    ),
    "rpm_decay": FaultKind(
        "publisher", ("rpm",), "none", "publisher demand erodes gradually (needs a human)"
    ),
}


class Fault(BaseModel):
    """One labelled fault window: ``[start, end)`` on ``entity``."""

    model_config = ConfigDict(frozen=True)

    fault_id: str
    kind: FaultKindName
    entity: str
    start: datetime
    end: datetime
    severity: float = 1.0

    @model_validator(mode="after")
    def _check(self) -> Fault:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("fault times must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("a fault must end after it starts")
        if not 0.0 < self.severity <= 10.0:
            raise ValueError("severity must be in (0, 10]")
        return self

    @property
    def entity_type(self) -> EntityType:
        return FAULT_KINDS[self.kind].entity_type

    def active(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def progress(self, at: datetime) -> float:
        """Fraction of the window elapsed at ``at`` (0 at start, 1 at end)."""
        span = (self.end - self.start).total_seconds()
        return min(1.0, max(0.0, (at - self.start).total_seconds() / span))

    def label(self) -> dict[str, Any]:
        kind = FAULT_KINDS[self.kind]
        return {
            "fault_id": self.fault_id,
            "type": self.kind,
            "entity_type": kind.entity_type,
            "entity": self.entity,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "severity": self.severity,
            "signature": list(kind.signature),
            "remedy": kind.remedy,
            "description": kind.description,
        }


def entities_of(world: World, entity_type: EntityType) -> list[str]:
    """Valid entity names of a type, biggest first (the default target is the first)."""
    if entity_type == "partner":
        order = sorted(world.partners, key=lambda p: -p.participation)
        return [p.name for p in order]
    if entity_type == "publisher":
        return [p.publisher_id for p in world.publishers]
    if entity_type == "ad_unit":
        units = sorted(world.ad_units, key=lambda u: -u.share)
        return [u.ad_unit_id for u in units]
    return ["exchange"]


def make_fault(
    world: World,
    kind: str,
    *,
    start: datetime,
    minutes: float = 60.0,
    entity: str | None = None,
    severity: float = 1.0,
) -> Fault:
    """A validated fault; ``entity`` defaults to the biggest entity the kind can hit."""
    if kind not in FAULT_KINDS:
        raise FaultError(f"unknown scenario {kind!r}; choose from {', '.join(FAULT_KINDS)}")
    if minutes <= 0:
        raise FaultError("a scenario must last a positive number of minutes")
    valid = entities_of(world, FAULT_KINDS[kind].entity_type)
    target = entity or valid[0]
    if target not in valid:
        raise FaultError(f"{kind}: unknown {FAULT_KINDS[kind].entity_type} {target!r}")
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    end = start + timedelta(minutes=minutes)
    digest = hashlib.sha1(f"{kind}|{target}|{start.isoformat()}|{minutes}".encode()).hexdigest()
    try:
        return Fault(
            fault_id=f"fault-{digest[:10]}",
            kind=kind,  # type: ignore[arg-type]
            entity=target,
            start=start,
            end=end,
            severity=severity,
        )
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise FaultError(f"{kind}: {message}") from None


def parse_scenario(world: World, spec: str, *, day: date) -> Fault:
    """Parse ``kind[,entity=X][,at=HH:MM|ISO][,minutes=N][,severity=F]`` (defaults: noon, 60)."""
    name, *pairs = [part.strip() for part in spec.split(",") if part.strip()] or [""]
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in {"entity", "at", "minutes", "severity"}:
            raise FaultError(
                f"bad scenario option {pair!r} (use entity=, at=, minutes=, severity=)"
            )
        options[key] = value
    try:
        start = _parse_at(options.get("at", "12:00"), day)
        minutes = float(options.get("minutes", "60"))
        severity = float(options.get("severity", "1"))
    except ValueError:
        raise FaultError(f"bad scenario options in {spec!r}") from None
    return make_fault(
        world, name, start=start, minutes=minutes, entity=options.get("entity"), severity=severity
    )


def _parse_at(text: str, day: date) -> datetime:
    if "T" in text or len(text) > 5:
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.combine(day, time.fromisoformat(text), tzinfo=UTC)


def config_change(world: World, fault: Fault) -> dict[str, Any] | None:
    """The control-plane change a configuration fault makes at its start (None for world faults)."""
    if fault.kind == "floor_too_high":
        default = world.default_floors[fault.entity]
        return {"floors": {fault.entity: round(default * 20.0 * fault.severity + 1.0, 2)}}
    if fault.kind == "ad_unit_misconfiguration":
        return {"ad_unit_sizes": {fault.entity: catalog.MISCONFIGURED_SIZE}}
    return None
