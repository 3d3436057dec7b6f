"""The lead-quality API's bodies: one lead, or up to 10,000 leads as columns.

One definition of each field (:data:`FIELD_TYPES`, with its bounds) serves both shapes: a lead
is an object of scalars, a batch is ``{"columns": {field: [values...]}}`` with every column
the same length. Columns keep 10,000 leads under the API's 1 MiB body limit (as objects they
would take about 3.7 MB). Validation is strict: ``"3"`` is not an hour and ``1`` is not a
boolean; NaN and infinities are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from ssmas.campaigns.quality.features import LEAD_FIELDS, LINE_TYPES, SOURCES

MAX_BATCH = 10_000
LineType = Literal["mobile", "fixed_line_or_mobile", "fixed_line", "voip", "unknown"]
Source = Literal["organic", "referral", "paid_social", "paid_search", "event", "purchased_list"]
Count = Annotated[int, Field(ge=0, le=100_000)]
Days = Annotated[int, Field(ge=0, le=36_500)]
FIELD_TYPES: dict[str, Any] = {
    "phone_valid": bool,
    "line_type": LineType,
    "lada": Annotated[str, Field(pattern=r"^[0-9]{2,3}$", description="LADA (area) code")],
    "whatsapp_active": bool,
    "instagram_active": bool,
    "facebook_active": bool,
    "google_active": bool,
    "apple_active": bool,
    "avg_response_time_h": Annotated[float, Field(ge=0.0, le=720.0, allow_inf_nan=False)],
    "source": Source,
    "validated_hour": Annotated[int, Field(ge=0, le=23)],
    "validated_weekday": Annotated[int, Field(ge=0, le=6, description="0 is Monday")],
    "validation_count": Annotated[int, Field(ge=1, le=100_000)],
    "days_since_last_validation": Days,
    "lead_age_days": Days,
    "messages_opened_30d": Count,
    "links_clicked_30d": Count,
}
LeadId = Annotated[str, Field(min_length=1, max_length=128)]
_STRICT = ConfigDict(extra="forbid", strict=True)
assert tuple(FIELD_TYPES) == LEAD_FIELDS
assert LineType.__args__ == LINE_TYPES and Source.__args__ == SOURCES  # type: ignore[attr-defined]


def _same_length(columns: BaseModel) -> BaseModel:
    lengths = {name: len(getattr(columns, name)) for name in LEAD_FIELDS}
    if columns.lead_id is not None:  # type: ignore[attr-defined]
        lengths["lead_id"] = len(columns.lead_id)  # type: ignore[attr-defined]
    if len(set(lengths.values())) > 1:
        raise ValueError(f"every column must have the same length, got {lengths}")
    return columns


_LEAD_FIELDS: dict[str, Any] = {
    "lead_id": (LeadId | None, None),
    **{name: (kind, ...) for name, kind in FIELD_TYPES.items()},
}
_COLUMN_FIELDS: dict[str, Any] = {
    "lead_id": (Annotated[list[LeadId], Field(min_length=1, max_length=MAX_BATCH)] | None, None),
    **{
        name: (Annotated[list[kind], Field(min_length=1, max_length=MAX_BATCH)], ...)  # type: ignore[valid-type]
        for name, kind in FIELD_TYPES.items()
    },
}
Lead: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Lead",
    __config__=_STRICT,
    __doc__="One lead's raw fields (validation, platform presence, history).",
    **_LEAD_FIELDS,
)
LeadColumns: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "LeadColumns",
    __config__=_STRICT,
    __doc__=f"1 to {MAX_BATCH} leads as columns of the same length.",
    __validators__={"same_length": model_validator(mode="after")(_same_length)},  # type: ignore[dict-item]
    **_COLUMN_FIELDS,
)


class LeadBatch(BaseModel):
    """Up to 10,000 leads, as columns."""

    model_config = _STRICT
    columns: LeadColumns  # type: ignore[valid-type]


class LeadScore(BaseModel):
    """Quality 0-100 (100 times the conversion probability), spread between the ensemble's
    members (standard deviation, same scale) and confidence ``1 - spread / 50``."""

    lead_id: str | None = None
    quality: float
    spread: float
    confidence: float
    model_version: str


class LeadScores(BaseModel):
    """One value per lead in each column, in the order of the request."""

    count: int
    model_version: str
    lead_id: list[str] | None = None
    quality: list[float]
    spread: list[float]
    confidence: list[float]
