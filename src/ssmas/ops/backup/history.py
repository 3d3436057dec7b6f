"""What the backups page reads: the newest backups' manifests and the DR drills' record.

A backup folder's name is its id, which starts with its UTC creation time
(``20261206T101500.123456Z-ab12cd``), so the newest ``limit`` are found from the directory
listing alone and only their manifests are read: the page costs the same with 24 backups or
10,000. Each ``ssmas dr drill`` appends its report as one JSON line to ``drills.jsonl`` in the
backup folder; the page reads the newest lines from the end of the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ssmas.ops.backup.archive import MANIFEST, Backup, DrillReport

DRILLS_FILE = "drills.jsonl"
_TAIL_CHUNK = 64 * 1024


@dataclass(frozen=True)
class BackupListing:
    """The newest backups (newest first) and how many the folder holds."""

    backups: list[Backup]
    total: int


def newest_backups(root: Path, limit: int) -> BackupListing:
    """The newest ``limit`` complete backups under ``root`` (unreadable manifests skipped)."""
    if not root.is_dir():
        return BackupListing([], 0)
    with os.scandir(root) as entries:
        names = sorted(
            (e.name for e in entries if e.is_dir() and not e.name.startswith(".")), reverse=True
        )
    found: list[Backup] = []
    total = 0
    for name in names:
        manifest_path = root / name / MANIFEST
        if len(found) >= limit:
            total += 1  # counted, not read
            continue
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            continue
        found.append(Backup(root / name, manifest))
        total += 1
    return BackupListing(found, total)


def record_drill(root: Path, report: DrillReport, *, at: float) -> None:
    """Append ``report`` (with its time and verdict) to the drills record."""
    root.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"at": at, **asdict(report), "ok": report.ok}, sort_keys=True)
    with (root / DRILLS_FILE).open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def recent_drills(root: Path, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` drill records, newest first, read backwards from the file's end."""
    path = root / DRILLS_FILE
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return []
    with handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        buffer = b""
        records: list[dict[str, Any]] = []
        while position > 0 and len(records) < limit:
            step = min(_TAIL_CHUNK, position)
            position -= step
            handle.seek(position)
            buffer = handle.read(step) + buffer
            lines = buffer.split(b"\n")
            # The first line may be cut by the chunk's start: keep it for the next read.
            buffer = lines[0] if position > 0 else b""
            complete = lines[1:] if position > 0 else lines
            for raw in reversed(complete):
                if len(records) >= limit:
                    break
                record = _parse(raw)
                if record is not None:
                    records.append(record)
        return records


def _parse(raw: bytes) -> dict[str, Any] | None:
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None  # a line cut by a crash mid-write
    return value if isinstance(value, dict) else None
