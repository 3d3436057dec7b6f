"""What the pricing service answers: one :class:`Scored` row, a :class:`Priced` batch (columns),
and the shapes they take on the way out (response JSON, the capture row).

Kept apart from the service so routes, floors and capture share them without the scoring
machinery. A single answer is built as a plain dict and serialised once with ``orjson`` (no
response-model copy); a batch is encoded straight to JSON bytes from ``msgspec`` structs built
column by column (:func:`batch_json`), which is cheaper than a thousand dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, Literal

import msgspec
import numpy as np
import numpy.typing as npt

from ssmas.pricing.schemas import Impression, RowError
from ssmas.pricing.serving.fast_requests import as_dict
from ssmas.pricing.variants import Variant

FloatArray = npt.NDArray[np.float64]
FallbackReason = Literal["no_model", "timeout", "circuit_open", "error", "overloaded"]
NO_MODEL_VERSION = "none"


@dataclass(slots=True)
class Scored:
    """The price of one impression and who gave it."""

    point: float
    lower: float
    upper: float
    version: str
    variant: Variant
    fallback: bool
    reason: FallbackReason | None = None
    data_points: int = 0


@dataclass
class Priced:
    """A priced batch as columns (cheap to fill, round and serialise for 1000 rows)."""

    point: FloatArray
    lower: FloatArray
    upper: FloatArray
    history: npt.NDArray[np.int64]
    fallback: npt.NDArray[np.bool_]
    variant: list[Variant]
    version: list[str]

    @classmethod
    def empty(cls, n: int) -> Priced:
        return cls(
            np.zeros(n),
            np.zeros(n),
            np.zeros(n),
            np.zeros(n, dtype=np.int64),
            np.zeros(n, dtype=np.bool_),
            ["champion"] * n,
            [NO_MODEL_VERSION] * n,
        )

    def __len__(self) -> int:
        return int(self.point.size)

    def set_variant(self, idx: npt.NDArray[np.intp], variant: Variant, version: str) -> None:
        if idx.size == len(self.variant):  # the whole batch (the usual case): no loop
            self.variant, self.version = [variant] * idx.size, [version] * idx.size
            return
        for i in idx.tolist():
            self.variant[i] = variant
            self.version[i] = version

    def row(self, i: int) -> Scored:
        """Row ``i`` as a :class:`Scored` (fallback reasons are not kept per row)."""
        return Scored(
            float(self.point[i]),
            float(self.lower[i]),
            float(self.upper[i]),
            self.version[i],
            self.variant[i],
            bool(self.fallback[i]),
            None,
            int(self.history[i]),
        )


def capture_row(
    request: Impression, scored: Scored, at: datetime, latency_ms: float
) -> dict[str, Any]:
    """The ``pricing_captures`` row of one prediction."""
    return {
        "captured_at": at,
        "impression_id": request.impression_id,
        "variant": scored.variant,
        "model_version": scored.version,
        "fallback": scored.fallback,
        "request": as_dict(request),
        "predicted_cpm": scored.point,
        "lower": scored.lower,
        "upper": scored.upper,
        "latency_ms": latency_ms,
    }


def prediction_body(
    impression_id: str, scored: Scored, timestamp: str, latency_ms: float
) -> dict[str, Any]:
    """The ``PredictResponse`` JSON of one scored request (built as a dict: no model copy)."""
    return {
        "impression_id": impression_id,
        "predicted_cpm": round(scored.point, 4),
        "confidence_interval": {
            "lower": round(scored.lower, 4),
            "upper": round(scored.upper, 4),
        },
        "model_version": scored.version,
        "variant": scored.variant,
        "prediction_timestamp": timestamp,
        "latency_ms": round(latency_ms, 3),
        "fallback": scored.fallback,
    }


class _Interval(msgspec.Struct, gc=False):
    lower: float
    upper: float


class _Answer(msgspec.Struct, gc=False):
    """One ``PredictResponse`` of a batch, fields in the order of :func:`prediction_body`."""

    impression_id: str
    predicted_cpm: float
    confidence_interval: _Interval
    model_version: str
    variant: str
    prediction_timestamp: str
    latency_ms: float
    fallback: bool


class _Detail(msgspec.Struct, gc=False):
    field: str
    message: str


class _RowError(msgspec.Struct, gc=False):
    """A :class:`~ssmas.pricing.schemas.RowError`, fields in its order."""

    impression_id: str | None
    error: str
    predicted_cpm: None
    index: int
    details: list[_Detail]


_ENCODE = msgspec.json.Encoder().encode
# Beyond this |value|, value x 10^4 may be off a half by more than _NEAR_HALF: round() decides.
_ROUND_SAFE = 1e5
_NEAR_HALF = 1e-6


def round4(values: npt.NDArray[np.float64]) -> list[float]:
    """``[round(v, 4) for v in values]`` at numpy's speed, identical value for value.

    ``np.round`` scales by 10^4 and rounds half to even in binary, so it can end one unit away
    from Python's correctly rounded ``round`` when v x 10^4 falls within a rounding error of a
    half (e.g. 0.00015); such values, and the odd huge or non-finite one, are rounded by
    ``round`` itself (typically none of a batch).
    """
    rounded: list[float] = np.round(values, 4).tolist()
    scaled = values * 1e4
    doubtful = (np.abs(scaled - np.floor(scaled) - 0.5) < _NEAR_HALF) | ~(
        np.abs(values) < _ROUND_SAFE
    )
    for i in np.flatnonzero(doubtful).tolist():
        rounded[i] = round(float(values[i]), 4)
    return rounded


def batch_json(
    requests: Sequence[Impression],
    priced: Priced,
    timestamp: str,
    latency_ms: float,
    errors: Sequence[RowError] = (),
) -> bytes:
    """The ``BatchPredictResponse`` JSON: :func:`prediction_body` of every priced row, and each
    row error at its ``index`` (``errors`` in the order of their index)."""
    answers: list[Any] = list(
        map(
            _Answer,
            [r.impression_id for r in requests],
            round4(priced.point),
            map(_Interval, round4(priced.lower), round4(priced.upper)),
            priced.version,
            priced.variant,
            repeat(timestamp),
            repeat(round(latency_ms, 3)),
            priced.fallback.tolist(),
        )
    )
    for e in errors:
        details = [_Detail(d.field, d.message) for d in e.details]
        answers.insert(e.index, _RowError(e.impression_id, e.error, None, e.index, details))
    return _ENCODE(answers)


def utc_timestamp(at: datetime | None = None) -> str:
    """``at`` (a UTC datetime; default now), ISO 8601 with a ``Z`` suffix."""
    return (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
