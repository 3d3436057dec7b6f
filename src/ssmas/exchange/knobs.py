"""The knobs a remediation can turn: one immutable ``ControlState`` per control-plane version.

Missing entries mean "world default": weight 1.0, breaker closed, the ad unit's own floor and size.
``apply_change`` merges a partial change into a state and rejects unknown knobs or bad values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ControlPlaneError(ValueError):
    """A control-plane change is malformed or names an entity the world does not have."""


# Feature flags of the exchange's serving path and their defaults. ``bid_compression`` is a
# harmless flag; ``aggressive_retries`` retries failed admissions, which costs capacity.
FEATURE_FLAGS: dict[str, bool] = {
    "bid_compression": True,
    "aggressive_retries": False,
    "multi_size_requests": True,
}


class CachePolicy(BaseModel):
    """Identity/bid cache: which pool serves lookups and how long entries live."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["primary", "replica"] = "primary"
    ttl_s: int = Field(default=300, ge=0, le=86_400)


class ControlState(BaseModel):
    """Every knob of the exchange at one version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partner_weights: dict[str, float] = Field(default_factory=dict)
    circuit_breakers: dict[str, bool] = Field(default_factory=dict)  # True = open (no traffic)
    floors: dict[str, float] = Field(default_factory=dict)  # ad unit -> EUR CPM
    ad_unit_sizes: dict[str, str] = Field(default_factory=dict)
    cache_policy: CachePolicy = Field(default_factory=CachePolicy)
    capacity_units: int = Field(default=10, ge=0, le=1000)
    blocked_sources: tuple[str, ...] = ()
    auction_timeout_ms: float = Field(default=300.0, gt=0, le=5000)
    feature_flags: dict[str, bool] = Field(default_factory=dict)  # missing = the flag's default

    def flag(self, name: str) -> bool:
        return self.feature_flags.get(name, FEATURE_FLAGS[name])

    def weight(self, partner: str) -> float:
        return (
            0.0
            if self.circuit_breakers.get(partner, False)
            else self.partner_weights.get(partner, 1.0)
        )


_DICT_KNOBS = (
    "partner_weights",
    "circuit_breakers",
    "floors",
    "ad_unit_sizes",
    "feature_flags",
)


def apply_change(state: ControlState, change: dict[str, Any]) -> ControlState:
    """A new state with ``change`` merged in: dict knobs merge key by key, others replace."""
    if not change:
        raise ControlPlaneError("a control-plane change must set at least one knob")
    unknown = set(change) - set(ControlState.model_fields)
    if unknown:
        raise ControlPlaneError(f"unknown knob(s): {', '.join(sorted(unknown))}")
    data = state.model_dump()
    for key, value in change.items():
        if key in _DICT_KNOBS:
            if not isinstance(value, dict):
                raise ControlPlaneError(f"{key} must be a mapping")
            data[key] = {**data[key], **value}
        elif key == "cache_policy":
            if not isinstance(value, dict):
                raise ControlPlaneError("cache_policy must be a mapping")
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    try:
        new = ControlState.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ControlPlaneError(f"invalid value for {where}: {first['msg']}") from None
    _check_ranges(new)
    return new


def _check_ranges(state: ControlState) -> None:
    for partner, weight in state.partner_weights.items():
        if not 0.0 <= weight <= 1.0:
            raise ControlPlaneError(f"partner weight of {partner} must be in [0, 1]")
    for unit, floor in state.floors.items():
        if not 0.0 <= floor <= 1000.0:
            raise ControlPlaneError(f"floor of {unit} must be in [0, 1000] EUR CPM")


def validate_entities(
    change: dict[str, Any], *, partners: set[str], ad_units: set[str], sources: set[str]
) -> None:
    """Reject changes that name partners, ad units or traffic sources the world lacks."""
    checks: list[tuple[str, set[str]]] = [
        ("partner_weights", partners),
        ("circuit_breakers", partners),
        ("floors", ad_units),
        ("ad_unit_sizes", ad_units),
    ]
    for knob, known in checks:
        for name in change.get(knob, {}) or {}:
            if name not in known:
                raise ControlPlaneError(f"{knob}: unknown entity {name!r}")
    for flag in change.get("feature_flags", {}) or {}:
        if flag not in FEATURE_FLAGS:
            raise ControlPlaneError(f"feature_flags: unknown flag {flag!r}")
    for source in change.get("blocked_sources", ()) or ():
        if source not in sources:
            raise ControlPlaneError(f"blocked_sources: unknown traffic source {source!r}")
