"""Bring your own auction log: iPinYou, OpenRTB 2.x and Prebid analytics logs into the lake.

``parse_log(format, path)`` reads a file into lake columns with a report of the rejected rows;
``import_log(format, path, lake)`` also writes them as the lake's hour partitions. The mapping
of each format is in ``docs/pricing.md`` ("Bring your own auction log").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa

from ssmas.pricing.model.importers.common import (
    IMPORT_MARKER,
    ImportReport,
    LogImportError,
    Progress,
    read_imported_lake,
    read_lines,
    read_marker,
    write_lake,
)
from ssmas.pricing.model.importers.ipinyou import parse_ipinyou

__all__ = [
    "FORMATS",
    "IMPORT_MARKER",
    "ImportReport",
    "LogImportError",
    "import_log",
    "parse_log",
    "read_imported_lake",
    "read_marker",
]

Parser = Callable[[Iterable[tuple[int, str]], ImportReport], pa.Table]


def _parsers() -> dict[str, Parser]:
    from ssmas.pricing.model.importers.openrtb import parse_openrtb
    from ssmas.pricing.model.importers.prebid import parse_prebid

    return {"ipinyou": parse_ipinyou, "openrtb": parse_openrtb, "prebid": parse_prebid}


FORMATS: tuple[str, ...] = ("ipinyou", "openrtb", "prebid")


def parse_log(
    fmt: str, path: Path, progress: Progress | None = None
) -> tuple[pa.Table, ImportReport]:
    """The kept rows of ``path`` (lake columns) and the import report."""
    parsers = _parsers()
    if fmt not in parsers:
        raise LogImportError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    report = ImportReport(format=fmt)
    table = parsers[fmt](read_lines(Path(path), progress), report)
    return table, report


def import_log(
    fmt: str, path: Path, lake: Path, progress: Progress | None = None
) -> tuple[ImportReport, list[Path]]:
    """Parse ``path`` and write its rows into the (new) lake at ``lake``."""
    table, report = parse_log(fmt, path, progress)
    return report, write_lake(table, report, Path(lake), Path(path))
