"""The stream detector's trained model: seasonal baselines and per-series sensitivity from history.

The online :class:`~ssmas.adops.stream.online.StreamDetector` compares each series with an
exponentially weighted baseline of its last hour. That baseline lags every daily swing (the
morning ramp of a publisher's RPM, the evening peak of the serving pool's utilisation), and the
variance it learns holds the swing too, so a series that moves with the hour is measured against
a wide, late baseline. A :class:`DetectorModel` is fitted from history instead:

* **seasonal profile**: per series, the median of its 1-minute values in each ``slot_minutes``
  slot of the day over the history, smoothed over neighbouring slots and interpolated between
  slot centres. The stream then scores ``x - profile(t)``: the detector's baseline follows only
  the day-to-day level of that residual, and its variance is the residual's noise;
* **noise**: per series, the robust spread of the residual (1.4826 MAD of its minute-to-minute
  moves over the square root of two), the detector's starting variance;
* **gain**: per series, how the detector's scale must be stretched so that the history would
  not have alarmed: the detector is replayed over the history and the series' high quantile of
  ``|z|`` (``quantile``) times ``margin`` over ``z_half``, clipped to ``[min_gain, max_gain]``.
  A quiet series gets a gain below one (more sensitive), a series that wandered on its own
  above one.

Series the model does not know keep the online baseline. The model is plain arrays and JSON
(``to_bytes`` / ``from_bytes``, an ``.npz`` without pickles), and is what ``ssmas adops
train-detector`` registers in the model registry (``ssmas.adops.stream.registry``).
"""

from __future__ import annotations

import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from ssmas.adops.stream.composite import WATCHED
from ssmas.adops.stream.online import StreamDetector, StreamDetectorConfig

FloatArray = npt.NDArray[np.float64]
DAY_S = 86_400


class DetectorModelError(ValueError):
    """History that cannot train a model, or a model file that cannot be read."""


@dataclass(frozen=True)
class TrainingConfig:
    """How a model is fitted (the defaults are the measured ones, docs/adops.md)."""

    slot_minutes: int = 30
    smooth_slots: int = 1  # neighbours on each side averaged into a slot's level
    min_days: float = 0.9  # a series needs this much history to get a profile
    quantile: float = 0.999
    margin: float = 1.5
    min_gain: float = 0.75
    max_gain: float = 3.0
    # the smallest scale, as a share of the level (the online detector's 5%); 2% was measured
    # worse on the live trial (exchange series alarmed right after the switch, no more found)
    rel_floor: float = 0.05

    def __post_init__(self) -> None:
        if self.slot_minutes < 1 or DAY_S % (self.slot_minutes * 60):
            raise DetectorModelError("slot_minutes must divide a day")
        if not 0.5 < self.quantile <= 1.0 or self.margin <= 0:
            raise DetectorModelError("quantile must be in (0.5, 1] and margin positive")
        if not 0 < self.min_gain <= 1.0 <= self.max_gain:
            raise DetectorModelError("min_gain <= 1 <= max_gain is required")


@dataclass
class DetectorModel:
    """Seasonal profile, noise and gain per series key (``<entity_type>/<id>/<metric>``)."""

    keys: list[str]
    profile: FloatArray  # (series, slots): level per slot of the day
    noise: FloatArray  # (series,)
    gain: FloatArray  # (series,)
    slot_minutes: int
    rel_floor: float = 0.05
    training: dict[str, Any] = field(default_factory=dict)  # what it was fitted on, and how
    metrics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {k: i for i, k in enumerate(self.keys)}

    @property
    def slots(self) -> int:
        return DAY_S // (self.slot_minutes * 60)

    def level(self, rows: npt.NDArray[np.int64], minute: int | FloatArray) -> FloatArray:
        """The profile of model rows ``rows`` at epoch second(s) ``minute`` (one time, or one
        per row), interpolated linearly between slot centres, round the clock."""
        width = self.slot_minutes * 60
        position = ((np.asarray(minute, dtype=np.float64) % DAY_S) - width / 2.0) / width
        low = np.floor(position)
        frac = position - low
        a = low.astype(np.int64) % self.slots
        b = (a + 1) % self.slots
        return np.asarray(
            (1.0 - frac) * self.profile[rows, a] + frac * self.profile[rows, b], dtype=np.float64
        )

    # ---- (de)serialisation --------------------------------------------------------------
    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        head = {
            "keys": self.keys,
            "slot_minutes": self.slot_minutes,
            "rel_floor": self.rel_floor,
            "training": self.training,
            "metrics": self.metrics,
        }
        meta = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
        np.savez_compressed(
            buffer, meta=meta, profile=self.profile, noise=self.noise, gain=self.gain
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> DetectorModel:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                head = json.loads(archive["meta"].tobytes().decode())
                model = cls(
                    keys=[str(k) for k in head["keys"]],
                    profile=archive["profile"].astype(np.float64),
                    noise=archive["noise"].astype(np.float64),
                    gain=archive["gain"].astype(np.float64),
                    slot_minutes=int(head["slot_minutes"]),
                    rel_floor=float(head.get("rel_floor", 0.05)),
                    training=dict(head.get("training", {})),
                    metrics={k: float(v) for k, v in head.get("metrics", {}).items()},
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DetectorModelError(f"not a detector model: {exc}") from None
        n = len(model.keys)
        if model.profile.shape != (n, model.slots) or model.noise.shape != (n,):
            raise DetectorModelError("detector model arrays do not match its keys")
        return model


# ---- history ------------------------------------------------------------------------------
History = dict[str, tuple[list[int], list[float]]]


def history_from_messages(messages: Iterable[Mapping[str, Any]]) -> History:
    """Series ``<entity_type>/<entity_id>/<metric>`` from the exchange's ``metrics.adops``
    payloads: minute (epoch s) and value lists; unreadable messages and values are skipped."""
    out: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for message in messages:
        try:
            etype, eid = str(message["entity_type"]), str(message["entity_id"])
            at = datetime.fromisoformat(str(message["ts"]))
        except (KeyError, ValueError):
            continue
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        minute = int(at.timestamp()) // 60 * 60
        for metric in WATCHED:
            value = message.get(metric)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                minutes, values = out[f"{etype}/{eid}/{metric}"]
                minutes.append(minute)
                values.append(float(value))
    return dict(out)


def _profile(minutes: FloatArray, values: FloatArray, cfg: TrainingConfig) -> FloatArray:
    slots = DAY_S // (cfg.slot_minutes * 60)
    slot = ((minutes % DAY_S) // (cfg.slot_minutes * 60)).astype(np.int64)
    level = np.full(slots, np.nan)
    for s in np.unique(slot):
        level[s] = np.median(values[slot == s])
    if np.isnan(level).any():  # slots never seen: the nearest seen ones, round the clock
        seen = np.flatnonzero(~np.isnan(level))
        ring = np.concatenate((seen - slots, seen, seen + slots))
        level = np.interp(np.arange(slots), ring, np.tile(level[seen], 3))
    if cfg.smooth_slots > 0:
        width = 2 * cfg.smooth_slots + 1
        padded = np.concatenate((level[-cfg.smooth_slots :], level, level[: cfg.smooth_slots]))
        level = np.convolve(padded, np.ones(width) / width, mode="valid")
    return level


def fit_detector(
    history: History,
    *,
    config: StreamDetectorConfig | None = None,
    training: TrainingConfig | None = None,
    floors: Mapping[str, float] | None = None,
) -> DetectorModel:
    """Fit profiles, noise and gains from ``history`` (series with at least ``min_days`` of
    minutes); raises :class:`DetectorModelError` when no series has enough."""
    cfg = training or TrainingConfig()
    detector_config = config or StreamDetectorConfig()
    keys: list[str] = []
    profiles: list[FloatArray] = []
    noises: list[float] = []
    series: list[tuple[FloatArray, FloatArray]] = []
    first, last = math.inf, -math.inf
    for key in sorted(history):
        raw_minutes, raw_values = history[key]
        minutes = np.asarray(raw_minutes, dtype=np.float64)
        values = np.asarray(raw_values, dtype=np.float64)
        ok = np.isfinite(values) & np.isfinite(minutes)
        minutes, values = minutes[ok], values[ok]
        if len(minutes) < 2 or (minutes.max() - minutes.min()) < cfg.min_days * DAY_S - 60:
            continue
        order = np.argsort(minutes, kind="stable")
        minutes, values = minutes[order], values[order]
        profile = _profile(minutes, values, cfg)
        keys.append(key)
        profiles.append(profile)
        series.append((minutes, values))
        first, last = min(first, minutes[0]), max(last, minutes[-1])
    if not keys:
        raise DetectorModelError(
            f"no series has {cfg.min_days:g} day(s) of history: nothing to train on"
        )
    model = DetectorModel(
        keys=keys,
        profile=np.vstack(profiles),
        noise=np.zeros(len(keys)),
        gain=np.ones(len(keys)),
        slot_minutes=cfg.slot_minutes,
        rel_floor=cfg.rel_floor,
    )
    for row, (minutes, values) in enumerate(series):
        residual = values - _levels(model, row, minutes)
        moves = np.diff(residual)
        mad = float(np.median(np.abs(moves - np.median(moves)))) if len(moves) else 0.0
        noises.append(1.4826 * mad / math.sqrt(2.0))
    model.noise = np.asarray(noises, dtype=np.float64)
    model.gain, alarms = _calibrate(model, series, detector_config, cfg, floors or {})
    days = (last - first + 60) / DAY_S
    model.training = {
        **asdict(cfg),
        "detector": asdict(detector_config),
        "series": len(keys),
        "from": datetime.fromtimestamp(first, UTC).isoformat(),
        "to": datetime.fromtimestamp(last, UTC).isoformat(),
    }
    model.metrics = {
        "series": float(len(keys)),
        "history_days": round(float(days), 3),
        "gain_median": round(float(np.median(model.gain)), 4),
        "sensitive_share": round(float(np.mean(model.gain < 1.0)), 4),
        "history_alarm_minutes_per_series_day": round(alarms / max(days, 1e-9) / len(keys), 6),
    }
    return model


def _levels(model: DetectorModel, row: int, minutes: FloatArray) -> FloatArray:
    return model.level(np.full(len(minutes), row, dtype=np.int64), minutes)


def _calibrate(
    model: DetectorModel,
    series: list[tuple[FloatArray, FloatArray]],
    detector_config: StreamDetectorConfig,
    cfg: TrainingConfig,
    floors: Mapping[str, float],
) -> tuple[FloatArray, int]:
    """Replay the history through a detector on the model's residuals; gains from the high
    quantile of each series' ``|z|``. Returns the gains and the alarm minutes they leave."""
    n = len(model.keys)
    detector = StreamDetector(detector_config)
    for row, key in enumerate(model.keys):
        metric = key.rsplit("/", 1)[-1]
        detector.grow(row + 1, floors.get(metric))
    detector.var[:] = model.noise**2
    detector.rel[:] = model.rel_floor
    by_minute: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for row, (minutes, values) in enumerate(series):
        for m, v in zip(minutes.astype(np.int64).tolist(), values.tolist(), strict=True):
            by_minute[m].append((row, v))
    zs: list[list[float]] = [[] for _ in range(n)]
    for minute in sorted(by_minute):
        rows = np.array([r for r, _ in by_minute[minute]], dtype=np.int64)
        x = np.array([v for _, v in by_minute[minute]])
        offset = model.level(rows, minute)
        _, z = detector.step(rows, x, offset=offset)
        warm = detector.count[rows] > detector_config.warmup
        for r, zv, w in zip(rows.tolist(), z.tolist(), warm.tolist(), strict=True):
            if w:
                zs[r].append(abs(zv))
    gains = np.ones(n)
    alarms = 0
    for row in range(n):
        if not zs[row]:
            continue
        high = float(np.quantile(zs[row], cfg.quantile))
        gains[row] = min(
            cfg.max_gain, max(cfg.min_gain, high * cfg.margin / detector_config.z_half)
        )
        alarms += int(np.sum(np.asarray(zs[row]) / gains[row] >= detector_config.z_half))
    return gains, alarms
