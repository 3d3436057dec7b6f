"""The stream's detector: every live series scored at once, one closed minute at a time.

``ssmas.adops.detect.SeriesDetector`` (the NAB-scored detector) costs ~2 ms a call, so hundreds
of series each fed one minute at a time would need a core of their own. The stream therefore
keeps the state of all its series in a few numpy arrays and updates them together, the way the
seed's Flink job compares windows against the last hour:

* baseline: an exponentially weighted mean and variance of the 1-minute values (half-life
  ``baseline_half_life`` minutes, the seed's "last hour"); a value that scores as anomalous
  does not move it, so a fault cannot teach the baseline that it is normal;
* score: the 5-minute sliding mean (hop one minute) against that baseline, in units of the
  baseline's standard deviation (floored, so a constant series is not divided by zero), mapped
  to [0, 1] as ``z / (z + z_half)``: 0.5 at ``z_half`` deviations;
* warm-up: a series' first ``warmup`` minutes only teach the baseline (score 0);
* level shifts: after ``adapt_after`` anomalous minutes in a row the baseline restarts from the
  recent values: the new level is then the normal one;
* missing data: a series with no point in a minute is simply not updated; NaN or infinite
  values score 0 and change nothing;
* slow drifts: series marked ``drift`` (ratios such as RPM and fill rate, whose level does not
  swing with the hour as counts do) also keep a two-sided CUSUM of their minutes' deviations
  (each clipped to ``clip``, less ``cusum_k``), scored ``c / (c + cusum_h)``: a drift of one
  deviation a minute reaches 0.5 after about ``cusum_h / (1 - cusum_k)`` minutes, where the
  5-minute mean needs ``z_half`` deviations at once. The CUSUM restarts whenever the z-score
  alarms (that fault is already seen) or the baseline adapts, and is capped at twice
  ``cusum_h``, so it forgets a drift that has ended within ``cusum_h / cusum_k`` minutes.
  ``cusum_h = 0`` (the default) turns it off: measured on the live trial, ``cusum_h = 20``
  opened 4.4 false incidents a simulated day and detected nothing more within 10 minutes.

A publisher's slow RPM erosion is the ratio test's (:mod:`ssmas.adops.stream.peers`, its
settings ``peer_*`` here): against the network's RPM, in standard errors of a minute's requests.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class StreamDetectorConfig:
    """One configuration for every series; the defaults are the measured ones (docs/adops.md)."""

    baseline_half_life: float = 60.0
    sliding: int = 5
    warmup: int = 60
    z_half: float = 6.0
    rel_floor: float = 0.05
    abs_floor: float = 1e-6
    adapt_after: int = 120
    clip: float = 3.0
    step_floor: float = 1.0
    step_half_life: float = 1440.0
    cusum_k: float = 1.0
    cusum_h: float = 0.0  # off: on the live trial it opened false incidents (docs/adops.md)
    # a publisher's RPM against the network's (ssmas.adops.stream.peers): z of the 5-minute
    # (``sliding``) requests-weighted mean log ratio against a baseline ``peer_lag`` minutes
    # behind; 0 turns it off. The window, clip and adapt_after are the ones above.
    peer_threshold: float = 5.0
    peer_lag: int = 10
    peer_half_life: float = 60.0
    peer_warmup: int = 120
    peer_direction: str = "down"

    def __post_init__(self) -> None:
        if self.baseline_half_life <= 0 or self.z_half <= 0:
            raise ValueError("half-life and z_half must be positive")
        if self.sliding < 1 or self.warmup < self.sliding or self.adapt_after < 1:
            raise ValueError("sliding >= 1, warmup >= sliding and adapt_after >= 1 are required")
        if self.peer_threshold < 0 or self.peer_lag < self.sliding or self.peer_half_life <= 0:
            raise ValueError("peer_threshold >= 0, peer_lag >= sliding, peer_half_life > 0")
        if self.peer_direction not in ("down", "both"):
            raise ValueError("peer_direction must be 'down' or 'both'")


_ARRAYS = ("count", "mean", "var", "ring", "streak", "step_size", "last", "floor")
_DRIFT_ARRAYS = ("drift", "cusum_up", "cusum_down")  # absent from older checkpoints
_MODEL_ARRAYS = ("gain", "rel")  # absent from checkpoints written before trained models


class StreamDetector:
    """State of many series, addressed by index; :meth:`step` scores one closed minute each."""

    def __init__(self, config: StreamDetectorConfig | None = None) -> None:
        self.config = c = config or StreamDetectorConfig()
        self.alpha = 1.0 - 0.5 ** (1.0 / c.baseline_half_life)
        self.count = np.zeros(0, dtype=np.int64)
        self.mean = np.zeros(0)
        self.var = np.zeros(0)
        self.ring = np.zeros((0, c.sliding))  # the last closed minutes, newest at [:, -1]
        self.streak = np.zeros(0, dtype=np.int64)  # anomalous minutes in a row
        self.step_size = np.zeros(0)  # slow mean of |x[t] - x[t-1]|: the series' typical move
        self.last = np.zeros(0)  # the last finite value
        self.floor = np.zeros(0)  # per series: the smallest deviation worth a unit of z
        self.drift = np.zeros(0, dtype=bool)  # per series: watched for slow drifts (CUSUM)
        self.cusum_up = np.zeros(0)
        self.cusum_down = np.zeros(0)
        self.gain = np.ones(0)  # per series: its scale's multiplier (a trained model's)
        self.rel = np.zeros(0)  # per series: its relative floor (a trained model's, or rel_floor)

    def __len__(self) -> int:
        return len(self.count)

    def grow(self, size: int, floor: float | None = None, drift: bool = False) -> None:
        """Make room for series indices below ``size`` (new series start empty); ``floor`` is
        their smallest scale in the metric's units (``abs_floor`` by default); ``drift``
        watches them for slow drifts too."""
        extra = size - len(self)
        if extra <= 0:
            return
        c = self.config
        self.count = np.concatenate((self.count, np.zeros(extra, dtype=np.int64)))
        self.mean = np.concatenate((self.mean, np.zeros(extra)))
        self.var = np.concatenate((self.var, np.zeros(extra)))
        self.ring = np.concatenate((self.ring, np.zeros((extra, c.sliding))))
        self.streak = np.concatenate((self.streak, np.zeros(extra, dtype=np.int64)))
        self.step_size = np.concatenate((self.step_size, np.zeros(extra)))
        self.last = np.concatenate((self.last, np.zeros(extra)))
        fill = self.config.abs_floor if floor is None else max(floor, self.config.abs_floor)
        self.floor = np.concatenate((self.floor, np.full(extra, fill)))
        self.drift = np.concatenate((self.drift, np.full(extra, drift, dtype=bool)))
        self.cusum_up = np.concatenate((self.cusum_up, np.zeros(extra)))
        self.cusum_down = np.concatenate((self.cusum_down, np.zeros(extra)))
        self.gain = np.concatenate((self.gain, np.ones(extra)))
        self.rel = np.concatenate((self.rel, np.full(extra, c.rel_floor)))

    def step(
        self,
        index: npt.NDArray[np.int64],
        values: FloatArray,
        offset: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Score one closed minute of the series at ``index`` (distinct indices).

        ``offset`` (a trained model's seasonal level at this minute, per series) is taken off
        the values first: the baseline then follows the residual. Returns ``(score, z)``: the
        score in [0, 1] and the signed deviation of the sliding mean (negative: below the
        baseline), both 0 for warm-up and non-finite values.
        """
        c = self.config
        index = np.asarray(index, dtype=np.int64)
        x = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(x)
        idx, x = index[ok], x[ok]
        level = np.zeros(len(idx))
        if offset is not None:
            level = np.asarray(offset, dtype=np.float64)[ok]
            x = x - level
        score = np.zeros(len(index))
        signed = np.zeros(len(index))
        if len(idx) == 0:
            return score, signed
        ring = np.roll(self.ring[idx], -1, axis=1)
        ring[:, -1] = x
        count = self.count[idx] + 1
        filled = np.minimum(count, c.sliding)
        window_sum = np.where(
            np.arange(c.sliding)[None, :] >= c.sliding - filled[:, None], ring, 0.0
        ).sum(axis=1)
        sliding_mean = window_sum / filled
        mean, var = self.mean[idx], self.var[idx]
        step_size = self.step_size[idx]
        scale = np.maximum(
            self.gain[idx]
            * np.maximum.reduce(
                [np.sqrt(var), c.step_floor * step_size, self.rel[idx] * np.abs(mean + level)]
            ),
            self.floor[idx],
        )
        z = (sliding_mean - mean) / scale
        warm = count > c.warmup
        s = np.where(warm, np.abs(z) / (np.abs(z) + c.z_half), 0.0)
        if c.cusum_h > 0:
            s, z = self._cusum(idx, x, mean, scale, warm, s, z)
        anomalous = s >= 0.5
        streak = np.where(anomalous, self.streak[idx] + 1, 0)
        # learn from normal minutes (and during warm-up); restart on a lasting level shift
        learn = ~anomalous
        # a point far from the baseline moves it by at most ``clip`` deviations (Huber), so a
        # fault's first minutes, before they score, cannot widen the baseline for the rest
        limit = np.where(count > c.warmup, c.clip * scale, np.inf)
        delta = np.clip(x - mean, -limit, limit)
        first = count == 1
        new_mean = np.where(first, x, mean + self.alpha * delta)
        new_var = np.where(first, 0.0, (1.0 - self.alpha) * (var + self.alpha * delta * delta))
        shifted = streak >= c.adapt_after
        recent = ring.mean(axis=1)
        new_mean = np.where(shifted, recent, np.where(learn, new_mean, mean))
        new_var = np.where(shifted, ring.var(axis=1), np.where(learn, new_var, var))
        streak = np.where(shifted, 0, streak)
        self.cusum_up[idx] = np.where(shifted, 0.0, self.cusum_up[idx])
        self.cusum_down[idx] = np.where(shifted, 0.0, self.cusum_down[idx])
        # the typical move learns slowly and from every minute: sparse counts (timeouts at
        # night) make the variance collapse, the mean step remembers that they jump
        moved = np.where(first, 0.0, np.abs(x - self.last[idx]))
        beta = 1.0 - 0.5 ** (1.0 / c.step_half_life)
        self.step_size[idx] = np.where(
            count <= 2, moved, step_size + beta * (np.minimum(moved, c.clip * scale) - step_size)
        )
        self.last[idx] = x
        self.ring[idx] = ring
        self.count[idx] = count
        self.mean[idx] = new_mean
        self.var[idx] = new_var
        self.streak[idx] = streak
        score[ok] = s
        signed[ok] = np.where(warm, z, 0.0)
        return score, signed

    def _cusum(
        self,
        idx: npt.NDArray[np.int64],
        x: FloatArray,
        mean: FloatArray,
        scale: FloatArray,
        warm: npt.NDArray[np.bool_],
        s: FloatArray,
        z: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Update the drift series' CUSUMs; the score is the larger of the two tests (z in
        units of the CUSUM's threshold where the CUSUM wins, signed by its direction)."""
        c = self.config
        watch = self.drift[idx] & warm
        dev = np.clip((x - mean) / scale, -c.clip, c.clip)
        cap = 2.0 * c.cusum_h
        up = np.clip(self.cusum_up[idx] + dev - c.cusum_k, 0.0, cap)
        down = np.clip(self.cusum_down[idx] - dev - c.cusum_k, 0.0, cap)
        quiet = watch & (s < 0.5)  # a z-score alarm already covers the fault: start again
        up = np.where(quiet, up, 0.0)
        down = np.where(quiet, down, 0.0)
        self.cusum_up[idx] = up
        self.cusum_down[idx] = down
        top = np.maximum(up, down)
        drift_score = top / (top + c.cusum_h)
        wins = drift_score > s
        signed = np.where(up >= down, 1.0, -1.0) * c.z_half * top / c.cusum_h
        return np.where(wins, drift_score, s), np.where(wins, signed, z)

    def to_bytes(self) -> bytes:
        """The state as an ``.npz`` archive (no pickles), the configuration as JSON inside."""
        buffer = io.BytesIO()
        config = np.frombuffer(json.dumps(asdict(self.config)).encode(), dtype=np.uint8)
        arrays = {name: getattr(self, name) for name in (*_ARRAYS, *_DRIFT_ARRAYS, *_MODEL_ARRAYS)}
        np.savez(buffer, config=config, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> StreamDetector:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            config: dict[str, Any] = json.loads(archive["config"].tobytes().decode())
            detector = cls(StreamDetectorConfig(**config))
            for name in _ARRAYS:
                setattr(detector, name, archive[name].copy())
            size = len(detector.count)
            for name in _DRIFT_ARRAYS:
                if name in archive.files:
                    setattr(detector, name, archive[name].copy())
                else:  # a checkpoint from before the drift test: no series watched yet
                    empty = np.zeros(size, dtype=bool if name == "drift" else np.float64)
                    setattr(detector, name, empty)
            detector.gain = archive["gain"].copy() if "gain" in archive.files else np.ones(size)
            detector.rel = (
                archive["rel"].copy()
                if "rel" in archive.files
                else np.full(size, detector.config.rel_floor)
            )
        return detector
