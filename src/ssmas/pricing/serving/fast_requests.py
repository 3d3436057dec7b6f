"""The hot path's request types: ``msgspec`` twins of :class:`PredictRequest` and
:class:`FloorRequest`, decoded straight from the body's bytes.

A batch of 1000 requests decodes into these C structs in a fraction of what building 1000
pydantic models costs (untracked by the garbage collector: their fields are strings and
numbers, so they cannot form a cycle, and a batch does not set off collections), and the
encoder reads them column by column
(:meth:`~ssmas.pricing.model.features.FeatureEncoder.encode_records`). The constraints mirror the
pydantic models field for field (strict integers, ranges, choices, lengths, finite numbers,
unknown fields refused) and are held to them by tests. They are only ever the *fast* answer:
a body ``msgspec`` refuses for any reason is validated again by the pydantic model, which gives
the contract's error sentences, and whatever pydantic accepts (it is more lenient, e.g.
``"0.5"`` for a score) is served as the pydantic model. So the contract is pydantic's alone.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from ssmas.core.api.bounds import MAX_ID
from ssmas.pricing.schemas import MAX_BATCH, AdFormat, DeviceCategory, InventoryType

__all__ = [
    "FAST_FLOOR",
    "FAST_FLOOR_BATCH",
    "FAST_PREDICT",
    "FAST_PREDICT_BATCH",
    "FastFloor",
    "FastPredict",
    "as_dict",
]

_MAX_FLOAT = sys.float_info.max  # an upper bound that refuses infinity, like allow_inf_nan=False

Hour = Annotated[int, Meta(ge=0, le=23)]
IsoDay = Annotated[int, Meta(ge=1, le=7)]
Tier = Annotated[int, Meta(ge=1, le=3)]
Share = Annotated[float, Meta(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Meta(ge=0.0, le=_MAX_FLOAT)]
Label = Annotated[str, Meta(min_length=1, max_length=64)]
Domain = Annotated[str, Meta(min_length=1, max_length=253)]
ImpressionId = Annotated[str, Meta(min_length=1, max_length=128)]


class FastPredict(Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """:class:`~ssmas.pricing.schemas.PredictRequest`, as a ``msgspec`` struct."""

    impression_id: ImpressionId
    hour_of_day: Hour
    day_of_week: IsoDay
    country_tier: Tier
    device_category: DeviceCategory
    format: AdFormat
    inventory_type: InventoryType
    bidder: Label | None = None
    demand_channel: Label | None = None
    domain: Domain | None = None
    user_engagement_score: Share | None = None
    device_performance_score: NonNegative | None = None
    historical_ctr_avg: Share | None = None


class FastFloor(FastPredict, frozen=True, forbid_unknown_fields=True, gc=False):
    """:class:`~ssmas.pricing.schemas.FloorRequest`, as a ``msgspec`` struct."""

    publisher_id: Label | None = None
    data_points: Annotated[int, Meta(ge=0, le=MAX_ID)] | None = None


Batch = Annotated[list[FastPredict], Meta(min_length=1, max_length=MAX_BATCH)]
FloorBatch = Annotated[list[FastFloor], Meta(min_length=1, max_length=MAX_BATCH)]

FAST_PREDICT = msgspec.json.Decoder(FastPredict)
FAST_PREDICT_BATCH = msgspec.json.Decoder(Batch)
FAST_FLOOR = msgspec.json.Decoder(FastFloor)
FAST_FLOOR_BATCH = msgspec.json.Decoder(FloorBatch)


def as_dict(request: Any) -> dict[str, Any]:
    """A request's fields without the unset (None) ones, in declaration order.

    Equal to ``PredictRequest.model_dump(mode="json", exclude_none=True)`` for either type (the
    capture row stores it).
    """
    if isinstance(request, Struct):
        names: Any = request.__struct_fields__
    else:
        names = type(request).model_fields
    values = ((name, getattr(request, name)) for name in names)
    return {name: value for name, value in values if value is not None}
