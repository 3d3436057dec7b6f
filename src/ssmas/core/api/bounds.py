"""Input bounds enforced at the edge, so out-of-range input is a 4xx and never a 500.

A database id beyond 64 bits makes SQLite raise ``OverflowError``, and a date at the end of the
calendar (``9999-12-31``) overflows the moment a day is added to it. Routes therefore take ids as
:data:`IdPath` (``1 ≤ id ≤ 2**63 - 1``, else 422) and days through :func:`parse_day` (a
``YYYY-MM-DD`` between :data:`EARLIEST_DAY` and :data:`LATEST_DAY`, else ``None``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Path

__all__ = ["EARLIEST_DAY", "LATEST_DAY", "MAX_ID", "DayOutOfRange", "IdPath", "parse_day"]

MAX_ID = 2**63 - 1
"""The largest id a 64-bit signed column (SQLite ``INTEGER``, PostgreSQL ``BIGINT``) holds."""

EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9999, 12, 1)
"""Days outside this range are refused: reports add and subtract weeks to a day."""

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a positive 64-bit id")]


class DayOutOfRange(ValueError):
    """A ``YYYY-MM-DD`` that is malformed or outside ``EARLIEST_DAY .. LATEST_DAY``."""


def parse_day(value: str) -> date:
    """``value`` (``YYYY-MM-DD``) as a date within the supported range, else ``DayOutOfRange``."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise DayOutOfRange("the day must be written YYYY-MM-DD") from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise DayOutOfRange(f"the day must be from {EARLIEST_DAY} to {LATEST_DAY}")
    return day
