"""Request and response models of ``/v2/predict``, ``/v2/predict/batch`` and ``/v2/floor``.

Seed 003's ``PredictionRequest`` with its validation: hour 0-23, day of week 1-7 (ISO: 1 is
Monday, 6 and 7 the weekend, as in the seed's ``is_weekend``), country tier 1-3, known device /
format / inventory type, scores within range, unknown fields refused. :func:`error_details`
turns a pydantic ``ValidationError`` into one clear sentence per problem for the 4xx body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from ssmas.core.api.bounds import MAX_ID
from ssmas.core.api.errors import ErrorDetail as ErrorDetail  # the platform's error shape
from ssmas.core.api.errors import ErrorResponse as ErrorResponse
from ssmas.pricing.variants import Variant

DeviceCategory = Literal["mobile", "tablet", "desktop"]
AdFormat = Literal["banner", "video", "native", "interstitial"]
InventoryType = Literal["premium", "standard", "remnant"]
FloorReason = Literal["dynamic", "control", "disabled", "fallback"]

DEVICE_CATEGORIES: tuple[str, ...] = get_args(DeviceCategory)
AD_FORMATS: tuple[str, ...] = get_args(AdFormat)
INVENTORY_TYPES: tuple[str, ...] = get_args(InventoryType)
MAX_BATCH = 1000
INVALID_REQUEST = "invalid_request"

# Inclusive bounds shown in error messages; they mirror the Field constraints below.
RANGES: dict[str, tuple[float, float | None]] = {
    "hour_of_day": (0, 23),
    "day_of_week": (1, 7),
    "country_tier": (1, 3),
    "user_engagement_score": (0, 1),
    "device_performance_score": (0, None),
    "historical_ctr_avg": (0, 1),
    "data_points": (0, None),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "device_category": DEVICE_CATEGORIES,
    "format": AD_FORMATS,
    "inventory_type": INVENTORY_TYPES,
}

Hour = Annotated[int, Field(ge=0, le=23, strict=True)]
IsoDay = Annotated[int, Field(ge=1, le=7, strict=True)]
Tier = Annotated[int, Field(ge=1, le=3, strict=True)]
Share = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Label = Annotated[str, Field(min_length=1, max_length=64)]


class PredictRequest(BaseModel):
    """One impression opportunity, as the ad server knows it before the auction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    impression_id: str = Field(min_length=1, max_length=128)
    hour_of_day: Hour
    day_of_week: IsoDay
    country_tier: Tier
    device_category: DeviceCategory
    format: AdFormat
    inventory_type: InventoryType
    bidder: Label | None = None
    demand_channel: Label | None = None
    domain: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    user_engagement_score: Share | None = None
    device_performance_score: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = None
    historical_ctr_avg: Share | None = None


class Impression(Protocol):
    """What serving reads of a request: a :class:`PredictRequest` or the hot path's
    ``msgspec`` twin (``ssmas.pricing.serving.fast_requests``), validated to the same contract."""

    @property
    def impression_id(self) -> str: ...
    @property
    def hour_of_day(self) -> int: ...
    @property
    def day_of_week(self) -> int: ...
    @property
    def country_tier(self) -> int: ...
    @property
    def device_category(self) -> DeviceCategory: ...
    @property
    def format(self) -> AdFormat: ...
    @property
    def inventory_type(self) -> InventoryType: ...
    @property
    def bidder(self) -> str | None: ...
    @property
    def demand_channel(self) -> str | None: ...
    @property
    def domain(self) -> str | None: ...
    @property
    def user_engagement_score(self) -> float | None: ...
    @property
    def device_performance_score(self) -> float | None: ...
    @property
    def historical_ctr_avg(self) -> float | None: ...


class FloorImpression(Impression, Protocol):
    """A floor request as serving reads it (:class:`FloorRequest` or its ``msgspec`` twin)."""

    @property
    def publisher_id(self) -> str | None: ...
    @property
    def data_points(self) -> int | None: ...


class ConfidenceInterval(BaseModel):
    """Bounds of the 80% prediction interval, in EUR CPM."""

    lower: float
    upper: float


class PredictResponse(BaseModel):
    """Predicted clearing CPM (EUR) for one impression, and who predicted it."""

    impression_id: str
    predicted_cpm: float
    confidence_interval: ConfidenceInterval
    model_version: str
    variant: Variant = "champion"
    prediction_timestamp: datetime
    latency_ms: float
    fallback: bool = False


class FloorRequest(PredictRequest):
    """An impression to floor; ``data_points`` overrides the history count of its domain."""

    publisher_id: Label | None = None
    data_points: Annotated[int, Field(ge=0, le=MAX_ID, strict=True)] | None = None


class FloorResponse(BaseModel):
    """The floor sent to the auction (``None`` = unfloored) with its inputs, for the log."""

    impression_id: str
    floor: float | None
    reason: FloorReason
    predicted_cpm: float | None
    confidence_factor: float
    competition_multiplier: float
    control: bool
    model_version: str
    variant: Variant = "champion"
    fallback: bool = False
    decision_timestamp: datetime
    latency_ms: float


class BatchPredictRequest(RootModel[list[PredictRequest]]):
    """A JSON array of 1 to 1000 prediction requests."""

    root: Annotated[list[PredictRequest], Field(min_length=1, max_length=MAX_BATCH)]


class RowError(BaseModel):
    """A row of a batch that could not be priced (seed 003's per-row error, in place of the
    row's prediction): its ``impression_id`` when the row carries a readable one, the reason,
    ``predicted_cpm`` null, its position in the batch and one detail per problem."""

    impression_id: str | None = None
    error: str
    predicted_cpm: None = None
    index: int = Field(ge=0, lt=MAX_BATCH)
    details: list[ErrorDetail] = Field(default_factory=list)


class BatchPredictResponse(RootModel[list[PredictResponse | RowError]]):
    """Answers in the order of the requests: a prediction per valid row, a :class:`RowError`
    per invalid one (at least one row priced; none priced is a 400 :class:`BatchErrorResponse`)."""


class BatchErrorResponse(ErrorResponse):
    """The 400 of a batch in which no row is valid: the error envelope (``details`` name each
    problem as ``[row].field``) and the per-row errors."""

    errors: list[RowError] = Field(default_factory=list)


class BatchFloorRequest(RootModel[list[FloorRequest]]):
    """A JSON array of 1 to 1000 floor requests."""

    root: Annotated[list[FloorRequest], Field(min_length=1, max_length=MAX_BATCH)]


class BatchFloorResponse(RootModel[list[FloorResponse]]):
    """Floor decisions in the order of the requests."""


def error_details(exc: ValidationError) -> list[ErrorDetail]:
    """One :class:`ErrorDetail` per pydantic error, worded for an API client."""
    return [_detail(err) for err in exc.errors(include_url=False)]


def error_response(exc: ValidationError) -> ErrorResponse:
    """The 4xx body for a rejected request; the message joins the details."""
    details = error_details(exc)
    message = "; ".join(d.message for d in details) or "invalid request"
    return ErrorResponse(error=INVALID_REQUEST, message=message, details=details)


_LIMIT_OF = {
    "greater_than_equal": "ge",
    "greater_than": "gt",
    "less_than_equal": "le",
    "less_than": "lt",
}


def _detail(err: Any) -> ErrorDetail:
    loc = tuple(err.get("loc", ()))
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    name = next((p for p in reversed(loc) if isinstance(p, str)), "")
    kind, got = err.get("type", ""), err.get("input")
    if kind == "missing":
        return ErrorDetail(field=path, message=f"missing required field: {path}")
    if kind == "extra_forbidden":
        return ErrorDetail(field=path, message=f"unknown field: {path}")
    if kind == "too_long" and not name:
        return ErrorDetail(field="", message=f"batch size cannot exceed {MAX_BATCH} items")
    if kind == "too_short" and not name:
        return ErrorDetail(field="", message="batch must contain at least 1 item")
    if kind == "list_type" and not name:
        return ErrorDetail(field="", message="batch body must be a JSON array of requests")
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        lo, hi = RANGES.get(name, (None, None))
        limit = (err.get("ctx") or {}).get(_LIMIT_OF[kind])
        if lo is not None and hi is not None:
            bounds = f"between {lo:g} and {hi:g}"
        elif kind.startswith("less") and limit is not None:
            bounds = f"{'at most' if kind == 'less_than_equal' else 'below'} {limit}"
        elif lo is not None:
            bounds = f"at least {lo:g}"
        elif limit is not None:
            bounds = f"{'at least' if kind == 'greater_than_equal' else 'above'} {limit}"
        else:
            bounds = str(err.get("msg", "")).lower()
        return ErrorDetail(field=path, message=f"{path} must be {bounds} (got {got!r})")
    if kind == "literal_error" and name in CHOICES:
        options = ", ".join(CHOICES[name])
        return ErrorDetail(field=path, message=f"{path} must be one of: {options} (got {got!r})")
    if kind.startswith("int_"):
        return ErrorDetail(field=path, message=f"{path} must be an integer (got {got!r})")
    if kind in {"float_type", "float_parsing", "finite_number"}:
        return ErrorDetail(field=path, message=f"{path} must be a finite number (got {got!r})")
    text = str(err.get("msg", "invalid value"))
    return ErrorDetail(field=path, message=f"{path}: {text}" if path else text)
