"""Remediation tools (the seed's ``IntelligentRemediationTools`` and more): knob changes.

``run`` is the dry run (what would change, and why it is safe or not); ``change`` is the
control-plane change the executor applies; the undo is computed from the knobs' values just
before the change (:func:`~ssmas.adops.tools.base.undo_of`). Partner notification is the one
tool that writes nothing to the control plane (and cannot be undone: a message is sent).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ssmas.adops.tools.base import (
    Risk,
    Tool,
    ToolContext,
    ToolError,
    ToolInput,
    ToolOutput,
    register,
    undo_of,
)
from ssmas.core.notify import Notification
from ssmas.exchange import catalog
from ssmas.exchange.knobs import FEATURE_FLAGS


class PlanOutput(ToolOutput):
    change: dict[str, Any]
    undo: dict[str, Any]
    blast_radius: float


class Remediation(Tool):
    kind = "remediation"
    risk: ClassVar[Risk] = "medium"
    Output = PlanOutput

    def run(self, ctx: ToolContext, args: ToolInput) -> PlanOutput:
        change = self.change(ctx, args)
        return PlanOutput(
            summary=f"would set {self._describe(change)}",
            change=change,
            undo=undo_of(ctx, change) if change else {},
            blast_radius=round(self.blast_radius(ctx, args), 4),
        )

    @staticmethod
    def _describe(change: dict[str, Any]) -> str:
        return "; ".join(f"{k}={v}" for k, v in change.items()) or "nothing"


def _partner(ctx: ToolContext, name: str) -> str:
    if name not in ctx.world.partner_names():
        raise ToolError(f"unknown partner {name!r}")
    return name


def _unit(ctx: ToolContext, unit_id: str) -> Any:
    unit = next((u for u in ctx.world.ad_units if u.ad_unit_id == unit_id), None)
    if unit is None:
        raise ToolError(f"unknown ad unit {unit_id!r}")
    return unit


class ShiftInput(ToolInput):
    partner: str = Field(min_length=1, max_length=80)
    weight: float = Field(ge=0.0, le=1.0, description="share of requests still sent (0 = none)")


@register
class ShiftTraffic(Remediation):
    name = "shift_traffic"
    description = (
        "Send a share of bid requests away from an unhealthy demand partner (its weight, "
        "0 = no traffic), so the healthy partners get the auctions."
    )
    risk = "high"
    Input = ShiftInput

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, ShiftInput)
        return {"partner_weights": {_partner(ctx, args.partner): args.weight}}

    def target(self, args: ToolInput) -> str:
        assert isinstance(args, ShiftInput)
        return f"partner:{args.partner}"

    def blast_radius(self, ctx: ToolContext, args: ToolInput) -> float:
        assert isinstance(args, ShiftInput)
        return ctx.revenue_share("partner", args.partner) * (1.0 - args.weight)


class BreakerInput(ToolInput):
    partner: str = Field(min_length=1, max_length=80)
    open: bool = True


@register
class CircuitBreaker(Remediation):
    name = "circuit_breaker"
    description = "Open (no calls) or close a demand partner's circuit breaker."
    Input = BreakerInput

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, BreakerInput)
        return {"circuit_breakers": {_partner(ctx, args.partner): args.open}}

    def target(self, args: ToolInput) -> str:
        assert isinstance(args, BreakerInput)
        return f"partner:{args.partner}"

    def blast_radius(self, ctx: ToolContext, args: ToolInput) -> float:
        assert isinstance(args, BreakerInput)
        return ctx.revenue_share("partner", args.partner) if args.open else 0.0


class ScaleInput(ToolInput):
    units: int = Field(ge=1, le=200)


@register
class ScaleCapacity(Remediation):
    name = "scale_capacity"
    description = "Set the serving pool's size in units (scaling down below need rejects traffic)."
    Input = ScaleInput

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, ScaleInput)
        return {"capacity_units": args.units}

    def target(self, args: ToolInput) -> str:
        return "exchange:capacity"

    def blast_radius(self, ctx: ToolContext, args: ToolInput) -> float:
        assert isinstance(args, ScaleInput)
        return 1.0 if args.units < ctx.state().capacity_units else 0.0


class CacheModeInput(ToolInput):
    mode: Literal["primary", "replica"] = "replica"


@register
class CacheWarm(Remediation):
    name = "cache_warm"
    description = (
        "Serve identity lookups from the warm replica pool while the primary refills "
        "(mode=replica), or back from the primary (mode=primary)."
    )
    Input = CacheModeInput

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, CacheModeInput)
        return {"cache_policy": {"mode": args.mode}}

    def target(self, args: ToolInput) -> str:
        return "exchange:cache"


class CacheTtlInput(ToolInput):
    ttl_s: int = Field(ge=0, le=86_400)


@register
class CacheInvalidate(Remediation):
    name = "cache_invalidate"
    description = "Set the cache entries' time to live (a short TTL invalidates stale entries)."
    risk = "low"
    Input = CacheTtlInput

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, CacheTtlInput)
        return {"cache_policy": {"ttl_s": args.ttl_s}}

    def target(self, args: ToolInput) -> str:
        return "exchange:cache"


class FloorInput(ToolInput):
    ad_unit_id: str = Field(min_length=1, max_length=200)
    floor_eur: float | None = Field(default=None, ge=0.0, le=1000.0)


@register
class FloorRollback(Remediation):
    name = "floor_rollback"
    description = (
        "Put an ad unit's floor back to its own default (or to floor_eur), through pricing's "
        "floor service."
    )
    Input = FloorInput

    def apply(self, ctx: ToolContext, change: dict[str, Any], *, actor: str, reason: str) -> int:
        if set(change) != {"floors"}:
            raise ToolError(f"{self.name} sets floors only, not {sorted(change)}")
        port = ctx.floor_port()
        version = ctx.plane.current().version
        for unit_id, floor in change["floors"].items():
            try:
                version = port.set_floor(unit_id, float(floor), actor=actor, reason=reason).version
            except ValueError as exc:  # pricing refused it, or could not be reached
                raise ToolError(f"pricing did not set the floor of {unit_id}: {exc}") from None
        return version

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, FloorInput)
        unit = _unit(ctx, args.ad_unit_id)
        value = unit.default_floor if args.floor_eur is None else args.floor_eur
        return {"floors": {unit.ad_unit_id: round(float(value), 4)}}

    def target(self, args: ToolInput) -> str:
        assert isinstance(args, FloorInput)
        return f"ad_unit:{args.ad_unit_id}"

    def blast_radius(self, ctx: ToolContext, args: ToolInput) -> float:
        assert isinstance(args, FloorInput)
        return float(_unit(ctx, args.ad_unit_id).share)


class UnitInput(ToolInput):
    ad_unit_id: str = Field(min_length=1, max_length=200)


@register
class RestoreAdUnitSize(Remediation):
    name = "restore_ad_unit_size"
    description = "Put an ad unit's declared size back to its own (a 1x1 unit gets no bids)."
    Input = UnitInput

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, UnitInput)
        unit = _unit(ctx, args.ad_unit_id)
        return {"ad_unit_sizes": {unit.ad_unit_id: unit.size}}

    def target(self, args: ToolInput) -> str:
        assert isinstance(args, UnitInput)
        return f"ad_unit:{args.ad_unit_id}"

    def blast_radius(self, ctx: ToolContext, args: ToolInput) -> float:
        assert isinstance(args, UnitInput)
        return float(_unit(ctx, args.ad_unit_id).share)


class RollbackInput(ToolInput):
    version: int = Field(ge=0)


@register
class ConfigRollback(Remediation):
    name = "config_rollback"
    description = "Roll the whole control plane back to an earlier version (every knob)."
    risk = "high"
    Input = RollbackInput

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, RollbackInput)
        versions = {v.version: v for v in ctx.plane.history(500)}
        if args.version not in versions:
            raise ToolError(f"no control-plane version {args.version}")
        target = versions[args.version].state.model_dump(mode="json")
        now = ctx.state().model_dump(mode="json")
        return {k: v for k, v in target.items() if v != now[k]} or {}

    def target(self, args: ToolInput) -> str:
        return "exchange:config"

    def blast_radius(self, ctx: ToolContext, args: ToolInput) -> float:
        return 1.0


class FlagInput(ToolInput):
    flag: str = Field(min_length=1, max_length=80)
    enabled: bool | None = Field(default=None, description="None: back to the flag's default")


@register
class FeatureFlagRollback(Remediation):
    name = "feature_flag_rollback"
    description = "Set a feature flag of the exchange (by default back to its default value)."
    Input = FlagInput

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, FlagInput)
        if args.flag not in FEATURE_FLAGS:
            raise ToolError(f"unknown feature flag {args.flag!r}")
        value = FEATURE_FLAGS[args.flag] if args.enabled is None else args.enabled
        return {"feature_flags": {args.flag: value}}

    def target(self, args: ToolInput) -> str:
        assert isinstance(args, FlagInput)
        return f"flag:{args.flag}"


class BlockInput(ToolInput):
    source: str = Field(default=catalog.INVALID_SOURCE, min_length=1, max_length=80)
    block: bool = True


@register
class BlockInvalidTraffic(Remediation):
    name = "block_invalid_traffic"
    description = "Block (or unblock) a traffic source at admission: the IVT block list."
    Input = BlockInput

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, BlockInput)
        if args.source not in catalog.TRAFFIC_SOURCES:
            raise ToolError(f"unknown traffic source {args.source!r}")
        blocked = set(ctx.state().blocked_sources)
        blocked = blocked | {args.source} if args.block else blocked - {args.source}
        return {"blocked_sources": sorted(blocked)}

    def target(self, args: ToolInput) -> str:
        assert isinstance(args, BlockInput)
        return f"source:{args.source}"

    def blast_radius(self, ctx: ToolContext, args: ToolInput) -> float:
        assert isinstance(args, BlockInput)
        # blocking real visitors' traffic is a different matter from blocking bots
        return 0.0 if args.source == catalog.INVALID_SOURCE or not args.block else 0.5


class TimeoutInput(ToolInput):
    timeout_ms: float = Field(gt=50.0, le=2000.0)


@register
class AuctionTimeout(Remediation):
    name = "auction_timeout"
    description = "Set how long the auction waits for partners' bids."
    Input = TimeoutInput

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, TimeoutInput)
        return {"auction_timeout_ms": args.timeout_ms}

    def target(self, args: ToolInput) -> str:
        return "exchange:timeout"


class NotifyInput(ToolInput):
    partner: str = Field(min_length=1, max_length=80)
    message: str = Field(min_length=1, max_length=2000)


@register
class NotifyPartner(Remediation):
    name = "notify_partner"
    description = "Send a demand partner's operations contact a message about an incident."
    risk = "low"
    reversible = False
    Input = NotifyInput

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, NotifyInput)
        _partner(ctx, args.partner)
        return {}

    def target(self, args: ToolInput) -> str:
        assert isinstance(args, NotifyInput)
        return f"notify:{args.partner}"

    def send(self, ctx: ToolContext, args: ToolInput) -> None:
        assert isinstance(args, NotifyInput)
        note = Notification(
            title=f"SSMAS exchange: issue seen on {args.partner}",
            body=args.message,
            severity="warning",
            source="ssmas.adops.agents",
            dedup_key=f"partner:{args.partner}",
        )
        ctx.sent.append(note)
        if ctx.notifier is not None:
            ctx.notifier.send(note)
