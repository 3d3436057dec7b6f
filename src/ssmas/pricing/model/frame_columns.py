"""Column access over the frame types the feature code accepts: pandas, pyarrow, plain mappings.

Each function reads one column without copying more than it needs: categories come back as
integer codes (``-1`` for missing) plus the distinct values, so lookups run once per distinct
value instead of once per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FrameLike: TypeAlias = pd.DataFrame | pa.Table | Mapping[str, Any]
IntArray = npt.NDArray[np.int64]


class FeatureError(ValueError):
    """Rows (or a schema) the feature code cannot use: a missing column, values out of range."""


@dataclass(frozen=True, slots=True)
class MissingColumn:
    """Stands for an absent optional column of ``n`` rows (every value missing)."""

    n: int


def frame_length(frame: FrameLike) -> int:
    """Number of rows; a mapping's length is that of its first column."""
    if isinstance(frame, pd.DataFrame | pa.Table):
        return int(frame.shape[0])
    for values in frame.values():
        return len(values)
    return 0


def has_column(frame: FrameLike, name: str) -> bool:
    """Whether the frame carries a column called ``name``."""
    if isinstance(frame, pa.Table):
        return name in frame.column_names
    return name in frame


def optional_column(frame: FrameLike, name: str, n: int) -> Any:
    """The raw column, or a :class:`MissingColumn` when the frame does not have it."""
    if not has_column(frame, name):
        return MissingColumn(n)
    return frame.column(name) if isinstance(frame, pa.Table) else frame[name]


def to_numpy(values: Any) -> npt.NDArray[Any]:
    """A numeric column as numpy; nulls of pyarrow / pandas nullable columns become NaN."""
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if values.null_count:
            values = values.cast(pa.float64())
        return np.asarray(values.to_numpy(zero_copy_only=False))
    if isinstance(values, pd.Series):
        if values.hasnans and values.dtype.kind != "f":
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return values.to_numpy(dtype=getattr(values.dtype, "numpy_dtype", None))
    return np.asarray(values)


def int_column(frame: FrameLike, name: str, lo: int, hi: int) -> IntArray:
    """A required integer column whose every value lies in ``[lo, hi]``."""
    if not has_column(frame, name):
        raise FeatureError(f"missing required column: {name}")
    raw = _as_numbers(to_numpy(optional_column(frame, name, 0)), name)
    if raw.dtype.kind == "f":
        if not np.isfinite(raw).all() or (raw != np.round(raw)).any():
            raise FeatureError(f"{name} must hold whole numbers with no missing values")
    elif raw.dtype.kind not in "iub":
        raise FeatureError(f"{name} must be an integer column, not {raw.dtype}")
    ints = raw.astype(np.int64)
    if ints.size and (ints.min() < lo or ints.max() > hi):
        raise FeatureError(
            f"{name} must be between {lo} and {hi}; found {ints.min()} to {ints.max()}"
        )
    return ints


def numeric_column(frame: FrameLike, name: str, n: int, default: float) -> npt.NDArray[Any]:
    """An optional numeric column as float64, missing values (or column) set to ``default``."""
    values = optional_column(frame, name, n)
    if isinstance(values, MissingColumn):
        return np.full(n, default)
    floats = _as_numbers(to_numpy(values), name).astype(np.float64, copy=False)
    return np.where(np.isnan(floats), default, floats)


def _as_numbers(raw: npt.NDArray[Any], name: str) -> npt.NDArray[Any]:
    """Numbers as they are; Python objects (numbers and None) as float64 with NaN."""
    if raw.dtype.kind in "iufb":
        return raw
    refusal = FeatureError(f"{name} must be a numeric column, not {raw.dtype}")
    if raw.dtype.kind != "O":
        raise refusal
    try:
        return pd.array(raw, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise refusal from exc


def category_codes(values: Any) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """Integer codes (``-1`` = missing) and the distinct values they index."""
    if isinstance(values, MissingColumn):
        return np.full(values.n, -1, dtype=np.intp), []
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    if isinstance(values, pa.ChunkedArray):
        return _arrow_codes(values)
    if isinstance(values, pd.Series):
        if isinstance(values.dtype, pd.CategoricalDtype):
            return np.asarray(values.cat.codes, dtype=np.intp), list(values.cat.categories)
        if getattr(values.dtype, "storage", None) == "pyarrow" or isinstance(
            values.dtype, pd.ArrowDtype
        ):
            return _arrow_codes(pa.chunked_array([pa.array(values)]))
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    return codes.astype(np.intp, copy=False), list(uniques)


def _arrow_codes(values: pa.ChunkedArray) -> tuple[npt.NDArray[np.intp], list[Any]]:
    if not pa.types.is_dictionary(values.type):
        values = pc.dictionary_encode(values)
    values = values.unify_dictionaries()
    if values.num_chunks == 0:
        return np.empty(0, dtype=np.intp), []
    codes = [chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False) for chunk in values.chunks]
    uniques = values.chunk(0).dictionary.to_pylist()
    return np.concatenate(codes).astype(np.intp, copy=False), uniques


def take_rows(frame: FrameLike, rows: npt.NDArray[np.integer[Any]]) -> FrameLike:
    """The given rows of the frame, in the same frame type where possible."""
    if isinstance(frame, pd.DataFrame):
        return frame.iloc[rows]
    if isinstance(frame, pa.Table):
        return frame.take(pa.array(rows))
    return {
        name: (np.asarray(values, dtype=object) if _is_text(values) else to_numpy(values))[rows]
        for name, values in frame.items()
    }


def _is_text(values: Any) -> bool:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type))
    kind = getattr(getattr(values, "dtype", None), "kind", "O")
    return kind not in "iufb"
