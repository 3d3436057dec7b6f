"""NAB files in: ``timestamp,value`` CSVs under family folders, the windows file, the profiles.

Errors are ``ValueError`` / ``FileNotFoundError`` with a one-line message naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ssmas.adops.nab.scoring import CostMatrix, FileLayout, layout_file

__all__ = [
    "DEFAULT_PROFILES",
    "Series",
    "layout_series",
    "load_corpus",
    "read_profiles",
    "read_series",
    "read_windows",
]

DEFAULT_PROFILES = {
    "standard": CostMatrix(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": CostMatrix(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": CostMatrix(tp=1.0, fp=0.11, fn=2.0),
}
Windows = dict[str, list[tuple[np.datetime64, np.datetime64]]]


@dataclass(frozen=True)
class Series:
    """One data file: ``name`` is its path under the data folder (``family/file.csv``)."""

    name: str
    family: str
    timestamps: npt.NDArray[np.datetime64]
    values: npt.NDArray[np.float64]


def read_series(path: Path, name: str, family: str) -> Series:
    """Read a ``timestamp,value`` CSV; values that are not numbers become NaN."""
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{name}: not a timestamp,value CSV ({exc})".splitlines()[0])
    if list(frame.columns[:2]) != ["timestamp", "value"]:
        raise ValueError(f"{name}: expected the columns timestamp,value, got {list(frame.columns)}")
    try:
        stamps = pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: bad timestamp ({exc})".splitlines()[0])
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=np.float64)
    return Series(name, family, stamps, values)


def load_corpus(data_dir: Path) -> list[Series]:
    """Every CSV under ``data_dir``, sorted by name; the family is the first folder below it."""
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder {data_dir} does not exist")
    paths = sorted(data_dir.rglob("*.csv"))
    if not paths:
        raise ValueError(f"no CSV files under {data_dir}")
    out = []
    for path in paths:
        relative = path.relative_to(data_dir)
        family = relative.parts[0] if len(relative.parts) > 1 else data_dir.name
        out.append(read_series(path, relative.as_posix(), family))
    return out


def _json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path} is not JSON ({exc})".splitlines()[0])


def read_windows(path: Path) -> Windows:
    """``combined_windows.json``: file name → list of [start, end] timestamps."""
    raw = _json(path, "labels file")
    if not isinstance(raw, dict):
        raise ValueError(f"labels file {path}: expected an object of file → windows")
    out: Windows = {}
    for name, spans in raw.items():
        try:
            out[name] = [
                (np.datetime64(pd.Timestamp(a), "ns"), np.datetime64(pd.Timestamp(b), "ns"))
                for a, b in spans
            ]
        except (ValueError, TypeError) as exc:
            raise ValueError(f"labels file {path}: bad window for {name} ({exc})".splitlines()[0])
    return out


def read_profiles(path: Path | None) -> dict[str, CostMatrix]:
    """NAB's ``config/profiles.json``; NAB's three profiles when no file is given."""
    if path is None:
        return dict(DEFAULT_PROFILES)
    raw = _json(path, "profiles file")
    try:
        return {
            name: CostMatrix(
                tp=float(body["CostMatrix"]["tpWeight"]),
                fp=float(body["CostMatrix"]["fpWeight"]),
                fn=float(body["CostMatrix"]["fnWeight"]),
            )
            for name, body in raw.items()
        }
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError(f"profiles file {path}: each profile needs a CostMatrix of weights")


def layout_series(series: Series, windows: Windows) -> FileLayout:
    """Find the series' windows by exact timestamp, as NAB requires, and lay the file out."""
    if series.name not in windows:
        raise ValueError(f"{series.name} has no entry in the labels file")
    bounds = []
    for start, end in windows[series.name]:
        left = np.flatnonzero(series.timestamps == start)
        right = np.flatnonzero(series.timestamps == end)
        if len(left) != 1 or len(right) != 1:
            missing = start if len(left) != 1 else end
            raise ValueError(f"{series.name}: window timestamp {missing} is not a row of the file")
        bounds.append((int(left[0]), int(right[0])))
    return layout_file(series.name, len(series.values), bounds)
