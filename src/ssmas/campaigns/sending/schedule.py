"""When a message may go out: quiet hours in the recipient's zone and a best hour per lead.

Pure functions over aware datetimes. Quiet hours run from ``quiet_start`` to ``quiet_end``
local time (21:00 to 09:00 by default, across midnight); ``next_allowed`` moves a time out of
them. The best hour of a lead is the local hour at which it converted most often before (ties:
the earliest); ``send_time`` is the next time at that hour (within a day), moved out of quiet
hours; a lead with no conversions goes out as soon as quiet hours allow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "America/Mexico_City"


@dataclass(frozen=True)
class QuietHours:
    """No sends from ``start`` (inclusive) to ``end`` (exclusive), local hours 0-23."""

    start: int = 21
    end: int = 9

    def quiet(self, hour: int) -> bool:
        if self.start == self.end:
            return False
        if self.start > self.end:  # across midnight
            return hour >= self.start or hour < self.end
        return self.start <= hour < self.end


def zone(tz: str) -> ZoneInfo:
    """The IANA zone ``tz``; an unknown or malformed name falls back to Mexico City."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def next_allowed(at: datetime, tz: str, quiet: QuietHours) -> datetime:
    """``at`` if it is outside quiet hours in ``tz``, else the next local ``quiet.end`` o'clock."""
    local = at.astimezone(zone(tz))
    if not quiet.quiet(local.hour):
        return at
    opening = local.replace(hour=quiet.end, minute=0, second=0, microsecond=0)
    if opening <= local:
        opening += timedelta(days=1)
    # Build the wall time again in the zone, so a DST change in between keeps the hour.
    wall = datetime(opening.year, opening.month, opening.day, quiet.end, tzinfo=zone(tz))
    return wall.astimezone(UTC)


def best_hour(conversions_utc: Iterable[datetime], tz: str) -> int | None:
    """The local hour at which the lead converted most often; ``None`` with no history."""
    hours = Counter(at.astimezone(zone(tz)).hour for at in conversions_utc)
    if not hours:
        return None
    top = max(hours.values())
    return min(hour for hour, n in hours.items() if n == top)


def send_time(now: datetime, tz: str, hour: int | None, quiet: QuietHours) -> datetime:
    """When to send: the next local ``hour`` o'clock within 24 h (``None``: as soon as
    allowed), moved out of quiet hours."""
    if hour is None:
        return next_allowed(now, tz, quiet)
    local = now.astimezone(zone(tz))
    if local.hour == hour:
        return next_allowed(now, tz, quiet)
    target = datetime(local.year, local.month, local.day, hour, tzinfo=zone(tz))
    if target <= local:
        target += timedelta(days=1)
    return next_allowed(target.astimezone(UTC), tz, quiet)
