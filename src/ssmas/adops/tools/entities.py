"""What the tools act on, named once: the inputs that name a partner or an ad unit, and the
look-ups that turn a name into the world's entity or refuse an unknown one (``ToolError``, so
the executor records nothing)."""

from __future__ import annotations

from pydantic import Field

from ssmas.adops.tools.base import ToolContext, ToolError, ToolInput
from ssmas.exchange.world import AdUnit


class PartnerInput(ToolInput):
    partner: str = Field(min_length=1, max_length=80)


class UnitInput(ToolInput):
    ad_unit_id: str = Field(min_length=1, max_length=200)


def find_partner(ctx: ToolContext, name: str) -> str:
    if name not in ctx.world.partner_names():
        raise ToolError(f"unknown partner {name!r}")
    return name


def find_unit(ctx: ToolContext, unit_id: str) -> AdUnit:
    unit = next((u for u in ctx.world.ad_units if u.ad_unit_id == unit_id), None)
    if unit is None:
        raise ToolError(f"unknown ad unit {unit_id!r}")
    return unit
