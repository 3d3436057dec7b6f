"""``timestamp,value`` CSV files into the stream: read and checked, then sent on the bus."""

from __future__ import annotations

import csv
import math
import re
from datetime import UTC, datetime
from pathlib import Path

from ssmas.adops.stream.job import SERIES_TOPIC
from ssmas.core.bus import Bus

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
CHUNK = 5000


class SeriesFileError(ValueError):
    """A series file or name that cannot be read (the message says where)."""


def read_series_csv(path: Path, name: str) -> list[tuple[str, float | None]]:
    """The file's points in order; an empty or non-numeric value is a missing point (None)."""
    if not NAME.match(name):
        raise SeriesFileError(f"bad series name {name!r} (letters, digits, _ . : -; 64 at most)")
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip().lower() for f in reader.fieldnames or []]
            if "timestamp" not in fields or "value" not in fields:
                raise SeriesFileError(f"{path}: needs a header with timestamp and value columns")
            points: list[tuple[str, float | None]] = []
            for line, row in enumerate(reader, start=2):
                clean = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                try:
                    at = datetime.fromisoformat(clean["timestamp"])
                except ValueError:
                    raise SeriesFileError(
                        f"{path}:{line}: timestamp {clean['timestamp'][:40]!r} is not ISO-8601"
                    ) from None
                at = at if at.tzinfo else at.replace(tzinfo=UTC)
                try:
                    value: float | None = float(clean["value"])
                except ValueError:
                    value = None
                if value is not None and not math.isfinite(value):
                    value = None
                points.append((at.astimezone(UTC).isoformat(), value))
    except OSError as exc:
        raise SeriesFileError(f"cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SeriesFileError(f"{path}: not a CSV file ({exc})") from None
    if not points:
        raise SeriesFileError(f"{path}: no points")
    return points


def send_series(bus: Bus, name: str, points: list[tuple[str, float | None]]) -> int:
    """Publish the points in chunks (the last one closes the series' open minute)."""
    for first in range(0, len(points), CHUNK):
        chunk = points[first : first + CHUNK]
        last = first + CHUNK >= len(points)
        bus.publish(
            SERIES_TOPIC,
            {"series": name, "points": [list(p) for p in chunk], "flush": last},
        )
    return len(points)
