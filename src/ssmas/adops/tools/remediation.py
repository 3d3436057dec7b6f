"""Remediation tools (the seed's ``IntelligentRemediationTools`` and more): knob changes.

``run`` is the dry run (what would change, and why it is safe or not); ``change`` is the
control-plane change the executor applies; the undo is computed from the knobs' values just
before the change (:func:`~ssmas.adops.tools.base.undo_of`). Partner notification is the one
tool that writes nothing to the control plane (and cannot be undone: a message is sent).
"""

from __future__ import annotations

from abc import abstractmethod
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
from ssmas.adops.tools.entities import PartnerInput, UnitInput, find_partner, find_unit
from ssmas.core.notify import Notification
from ssmas.exchange import catalog
from ssmas.exchange.knobs import FEATURE_FLAGS
from ssmas.exchange.world import AdUnit


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


class PartnerRemediation(Remediation):
    """A remediation that sets one demand partner's entry in ``knob`` to the value of its
    input's ``field``: it acts on ``partner:<name>`` and puts at stake the partner's revenue
    share times :meth:`stake` of that value."""

    knob: ClassVar[str]
    field: ClassVar[str]

    @abstractmethod
    def stake(self, value: Any) -> float:
        """The share of the partner's revenue the new value puts at stake (0 to 1)."""

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, PartnerInput)
        return {self.knob: {find_partner(ctx, args.partner): getattr(args, self.field)}}

    def target(self, args: ToolInput) -> str:
        assert isinstance(args, PartnerInput)
        return f"partner:{args.partner}"

    def blast_radius(self, ctx: ToolContext, args: ToolInput) -> float:
        assert isinstance(args, PartnerInput)
        share = ctx.revenue_share("partner", args.partner)
        return share * self.stake(getattr(args, self.field))


class ShiftInput(PartnerInput):
    weight: float = Field(ge=0.0, le=1.0, description="share of requests still sent (0 = none)")


@register
class ShiftTraffic(PartnerRemediation):
    name = "shift_traffic"
    description = (
        "Send a share of bid requests away from an unhealthy demand partner (its weight, "
        "0 = no traffic), so the healthy partners get the auctions."
    )
    risk = "high"
    Input = ShiftInput
    knob, field = "partner_weights", "weight"

    def stake(self, value: Any) -> float:
        return 1.0 - float(value)  # the share of its traffic moved away


class BreakerInput(PartnerInput):
    open: bool = True


@register
class CircuitBreaker(PartnerRemediation):
    name = "circuit_breaker"
    description = "Open (no calls) or close a demand partner's circuit breaker."
    Input = BreakerInput
    knob, field = "circuit_breakers", "open"

    def stake(self, value: Any) -> float:
        return 1.0 if value else 0.0  # open: all of it; closing puts nothing at stake


class ExchangeKnob(Remediation):
    """A remediation that sets one exchange-wide knob (or one ``key`` of it) to the value of
    its input's ``field``; it acts on ``exchange:<scope>``."""

    knob: ClassVar[str]
    field: ClassVar[str]
    key: ClassVar[str | None] = None
    scope: ClassVar[str]

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        value = getattr(args, self.field)
        return {self.knob: {self.key: value} if self.key else value}

    def target(self, args: ToolInput) -> str:
        return f"exchange:{self.scope}"


class ScaleInput(ToolInput):
    units: int = Field(ge=1, le=200)


@register
class ScaleCapacity(ExchangeKnob):
    name = "scale_capacity"
    description = "Set the serving pool's size in units (scaling down below need rejects traffic)."
    Input = ScaleInput
    knob, field, scope = "capacity_units", "units", "capacity"

    def blast_radius(self, ctx: ToolContext, args: ToolInput) -> float:
        assert isinstance(args, ScaleInput)
        return 1.0 if args.units < ctx.state().capacity_units else 0.0


class CacheModeInput(ToolInput):
    mode: Literal["primary", "replica"] = "replica"


@register
class CacheWarm(ExchangeKnob):
    name = "cache_warm"
    description = (
        "Serve identity lookups from the warm replica pool while the primary refills "
        "(mode=replica), or back from the primary (mode=primary)."
    )
    Input = CacheModeInput
    knob, field, key, scope = "cache_policy", "mode", "mode", "cache"


class CacheTtlInput(ToolInput):
    ttl_s: int = Field(ge=0, le=86_400)


@register
class CacheInvalidate(ExchangeKnob):
    name = "cache_invalidate"
    description = "Set the cache entries' time to live (a short TTL invalidates stale entries)."
    risk = "low"
    Input = CacheTtlInput
    knob, field, key, scope = "cache_policy", "ttl_s", "ttl_s", "cache"


class UnitRemediation(Remediation):
    """A remediation of one ad unit's entry in ``knob``: acts on ``ad_unit:<id>`` and puts the
    unit's share of the exchange's revenue at stake."""

    knob: ClassVar[str]

    @abstractmethod
    def value(self, unit: AdUnit, args: UnitInput) -> Any:
        """The ad unit's new value of the knob."""

    def change(self, ctx: ToolContext, args: ToolInput) -> dict[str, Any]:
        assert isinstance(args, UnitInput)
        unit = find_unit(ctx, args.ad_unit_id)
        return {self.knob: {unit.ad_unit_id: self.value(unit, args)}}

    def target(self, args: ToolInput) -> str:
        assert isinstance(args, UnitInput)
        return f"ad_unit:{args.ad_unit_id}"

    def blast_radius(self, ctx: ToolContext, args: ToolInput) -> float:
        assert isinstance(args, UnitInput)
        return float(find_unit(ctx, args.ad_unit_id).share)


class FloorInput(UnitInput):
    floor_eur: float | None = Field(default=None, ge=0.0, le=1000.0)


@register
class FloorRollback(UnitRemediation):
    name = "floor_rollback"
    description = (
        "Put an ad unit's floor back to its own default (or to floor_eur), through pricing's "
        "floor service."
    )
    Input = FloorInput
    knob = "floors"

    def value(self, unit: AdUnit, args: UnitInput) -> float:
        assert isinstance(args, FloorInput)
        value = unit.default_floor if args.floor_eur is None else args.floor_eur
        return round(float(value), 4)

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


@register
class RestoreAdUnitSize(UnitRemediation):
    name = "restore_ad_unit_size"
    description = "Put an ad unit's declared size back to its own (a 1x1 unit gets no bids)."
    Input = UnitInput
    knob = "ad_unit_sizes"

    def value(self, unit: AdUnit, args: UnitInput) -> str:
        return unit.size


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
class AuctionTimeout(ExchangeKnob):
    name = "auction_timeout"
    description = "Set how long the auction waits for partners' bids."
    Input = TimeoutInput
    knob, field, scope = "auction_timeout_ms", "timeout_ms", "timeout"


class NotifyInput(PartnerInput):
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
        find_partner(ctx, args.partner)
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
