"""Segment rules: conditions on a lead's fields, all of which a lead must meet, turned into SQL
so a segment of a million leads is counted and listed by the database."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ssmas.campaigns.phone import canonical_state
from ssmas.campaigns.tables import Lead

__all__ = ["FIELDS", "Condition", "where_clauses"]

TEXT_FIELDS = ("state", "city", "lada", "line_type", "time_zone")
FLAG_FIELDS = ("whatsapp", "instagram", "facebook", "google", "apple")
NUMBER_FIELDS = ("quality",)
FIELDS = (*TEXT_FIELDS, *FLAG_FIELDS, *NUMBER_FIELDS)
Op = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "known", "unknown"]
_OPS: dict[str, frozenset[str]] = {
    **dict.fromkeys(TEXT_FIELDS, frozenset({"eq", "ne", "in", "not_in", "known", "unknown"})),
    **dict.fromkeys(FLAG_FIELDS, frozenset({"eq", "ne", "known", "unknown"})),
    "quality": frozenset({"eq", "gt", "gte", "lt", "lte", "known", "unknown"}),
}


class Condition(BaseModel):
    """``field`` ``op`` ``value``: e.g. ``state eq Jalisco``, ``quality gte 60``,
    ``whatsapp eq true``, ``lada in [55, 56]``, ``quality known``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: Literal[FIELDS]  # type: ignore[valid-type]
    op: Op
    value: str | float | bool | list[str] | None = Field(default=None)

    @model_validator(mode="after")
    def _fits(self) -> Condition:
        if self.op not in _OPS[self.field]:
            allowed = ", ".join(sorted(_OPS[self.field]))
            raise ValueError(f"{self.field} takes the operators {allowed}, not {self.op}")
        value = self.value
        if self.op in ("known", "unknown"):
            if value is not None:
                raise ValueError(f"{self.op} takes no value")
        elif self.op in ("in", "not_in"):
            if not isinstance(value, list) or not value or len(value) > 1000:
                raise ValueError(f"{self.op} takes a list of 1 to 1000 values")
        elif self.field in FLAG_FIELDS:
            if not isinstance(value, bool):
                raise ValueError(f"{self.field} compares with true or false")
        elif self.field == "quality":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("quality compares with a number from 0 to 100")
        elif not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise ValueError(f"{self.field} compares with a text of 1 to 200 characters")
        return self


def _text(field: str, value: str) -> str:
    if field == "state":
        return canonical_state(value) or value.strip()
    return value.strip()


def _clause(condition: Condition) -> sa.ColumnElement[bool]:
    column: Any = getattr(Lead, condition.field)
    op, value = condition.op, condition.value
    if op == "known":
        return sa.and_(column.is_not(None))
    if op == "unknown":
        return sa.and_(column.is_(None))
    if isinstance(value, list):
        texts = [_text(condition.field, str(v)) for v in value]
        return sa.and_(column.in_(texts) if op == "in" else column.not_in(texts))
    if isinstance(value, str):
        value = _text(condition.field, value)
    compare = {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "gt": column.__gt__,
        "gte": column.__ge__,
        "lt": column.__lt__,
        "lte": column.__le__,
    }[op]
    return sa.and_(compare(value))


def where_clauses(conditions: list[Condition]) -> list[sa.ColumnElement[bool]]:
    """One SQL condition on :class:`~ssmas.campaigns.tables.Lead` per rule."""
    return [_clause(condition) for condition in conditions]
