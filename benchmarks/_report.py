"""Shared writer for benchmark results: ``benchmarks/results/<name>.json`` as BENCHMARKS.md says."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _memory_gb() -> float:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return round(pages / 1024**3, 1)
    except (ValueError, OSError):
        return 0.0


def write_result(
    name: str,
    figures: dict[str, Any],
    notes: str,
    *,
    quick: bool = False,
    keep: tuple[str, ...] = (),
) -> Path:
    """Write one benchmark's figures; a ``--quick`` run goes to ``<name>.quick.json`` instead.

    ``keep``: figures another script merges into this file (:func:`merge_figures`), carried
    over from the file's previous version when this run does not measure them.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / (f"{name}.quick.json" if quick else f"{name}.json")
    carried: dict[str, Any] = {}
    if keep and path.exists():
        before = json.loads(path.read_text())
        previous = before.get("figures", {})
        measured = set(figures)
        figures = {**{k: previous[k] for k in keep if k in previous}, **figures}
        # where the carried keys came from: each merging script's record whose keys this run
        # did not measure again
        for source, record in before.get("merged", {}).items():
            kept = [k for k in record.get("keys", []) if k in keep and k not in measured]
            if kept:
                carried[source] = {**record, "keys": kept}
    body: dict[str, Any] = {
        "benchmark": name,
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": _commit(),
        "machine": {"cores": os.cpu_count() or 0, "memory_gb": _memory_gb()},
        "figures": figures,
        "notes": notes,
    }
    if carried:
        body["merged"] = carried
    path.write_text(json.dumps(body, indent=2, sort_keys=False) + "\n")
    return path


def merge_figures(name: str, figures: dict[str, Any], source: str) -> Path | None:
    """Copy ``figures`` into ``results/<name>.json`` (the file BENCHMARKS.md names for them),
    saying which script measured them and when; nothing happens if that file does not exist."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    body = json.loads(path.read_text())
    body["figures"].update(figures)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    merged = {"when": stamp, "commit": _commit(), "keys": list(figures)}
    body.setdefault("merged", {})[source] = merged
    path.write_text(json.dumps(body, indent=2, sort_keys=False) + "\n")
    return path
