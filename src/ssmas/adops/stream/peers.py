"""A publisher's RPM against the network's: the slow erosion its own baseline cannot see.

The per-series detector (:mod:`ssmas.adops.stream.online`) measures a 5-minute mean against the
series' minute-to-minute moves, which suits steps and outages; a publisher whose bids erode by a
couple of percent a minute (the simulator's ``rpm_decay``) stays inside that band until its RPM
has lost half its level, and the baseline learns much of the erosion on the way. This test looks
at each publisher's RPM *relative to the network's* in the same minute instead:

* the log ratio ``r = log(rpm_publisher) - log(rpm_network)`` loses the daily and weekly swing
  that every publisher shares, and any exchange-wide move (an exchange fault is not one
  publisher's problem);
* a minute's ratio is a mean over its requests, so its variance is ``c / requests``: ``c`` is
  learnt per publisher (an exponentially weighted mean of ``(r - b)^2 * requests``), and a quiet
  night minute weighs less than a busy noon one;
* the test: over the last ``window`` minutes (the seed's 5-minute sliding window), the
  requests-weighted mean of ``r - b`` in units of its standard error, each minute's standardised
  deviation clipped to ``clip`` (one odd minute of a few high bids is not a trend);
* the baseline ``b`` learns only from minutes at least ``lag`` minutes old (half-life
  ``half_life``), so the minutes under test never teach it the drift they show, and never from
  minutes that were in alarm; after ``adapt_after`` alarm minutes in a row the lasting level is
  taken as the new normal;
* ``scale`` ``"log"`` (the default) tests the log ratio; ``"difference"`` tests ``value -
  reference`` instead, for a rate that can fall to exactly 0 (an ad unit's fill rate: its
  minute is a share of its requests, so its variance is ``c / requests`` the same way);
* ``direction`` ``"down"`` (the default) alarms on a publisher earning less than usual for the
  network's state (``"both"``: more too); the score is ``|z| / (|z| + threshold)``, 0.5 at the
  threshold, like the other detectors; a ``threshold`` of 0 turns the test off.

State is a few arrays per publisher that round-trip through JSON (:meth:`to_dict`), so the
stream worker checkpoints it with the rest of the processor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

_ARRAYS = ("base", "noise", "learnt", "streak", "ratio", "weight", "alarm")


@dataclass(frozen=True)
class PeerAnomaly:
    """One publisher's minute that scored: its RPM, its usual RPM for the network's, z, score."""

    entity_id: str
    value: float
    sliding_mean: float
    baseline: float
    z: float
    score: float


class PeerRatioTest:
    """The ratio test over every publisher, one closed minute at a time."""

    def __init__(
        self,
        *,
        threshold: float = 5.0,
        window: int = 5,
        lag: int = 10,
        half_life: float = 60.0,
        warmup: int = 120,
        clip: float = 3.0,
        adapt_after: int = 120,
        direction: str = "down",
        scale: str = "log",
    ) -> None:
        if direction not in ("down", "both"):
            raise ValueError("direction must be 'down' or 'both'")
        if scale not in ("log", "difference"):
            raise ValueError("scale must be 'log' or 'difference'")
        self.scale = scale
        if window < 1 or lag < window or half_life <= 0 or clip <= 0 or adapt_after < 1:
            raise ValueError("window >= 1, lag >= window, positive half-life, clip, adapt_after")
        self.threshold = threshold
        self.window = window
        self.lag = lag
        self.warmup = warmup
        self.clip = clip
        self.adapt_after = adapt_after
        self.direction = direction
        self.half_life = half_life
        self.alpha = 1.0 - 0.5 ** (1.0 / half_life)
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.base = np.zeros(0)  # b: the usual log ratio
        self.noise = np.zeros(0)  # c: variance of a minute's ratio times its requests
        self.learnt = np.zeros(0, dtype=np.int64)  # minutes the baseline learnt from
        self.streak = np.zeros(0, dtype=np.int64)  # alarm minutes in a row
        self.ratio = np.zeros((0, lag))  # the last ``lag`` minutes' log ratios, newest last
        self.weight = np.zeros((0, lag))  # their requests (0: no minute)
        self.alarm = np.zeros((0, lag), dtype=bool)  # whether each was in alarm

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    def _grow(self, ids: list[str]) -> None:
        new = [i for i in ids if i not in self.index]
        if not new:
            return
        for entity in new:
            self.index[entity] = len(self.ids)
            self.ids.append(entity)
        extra = len(new)
        self.base = np.concatenate((self.base, np.zeros(extra)))
        self.noise = np.concatenate((self.noise, np.zeros(extra)))
        self.learnt = np.concatenate((self.learnt, np.zeros(extra, dtype=np.int64)))
        self.streak = np.concatenate((self.streak, np.zeros(extra, dtype=np.int64)))
        self.ratio = np.concatenate((self.ratio, np.zeros((extra, self.lag))))
        self.weight = np.concatenate((self.weight, np.zeros((extra, self.lag))))
        self.alarm = np.concatenate((self.alarm, np.zeros((extra, self.lag), dtype=bool)))

    def step(
        self, reference: float, rpm: Mapping[str, float], requests: Mapping[str, float]
    ) -> list[PeerAnomaly]:
        """Score one minute: the reference (the network's value) and each entity's value and
        requests (an entity missing, without requests or, on the log scale, without a positive
        value, is a gap). Returns the scoring ones."""
        if not self.enabled or not (math.isfinite(reference) and reference > 0):
            return []
        self._grow(sorted(rpm))
        n = len(self.ids)
        r = np.zeros(n)
        w = np.zeros(n)
        for entity, value in rpm.items():
            i = self.index[entity]
            count = requests.get(entity, 0.0)
            if not (math.isfinite(value) and math.isfinite(count) and count > 0):
                continue
            if self.scale == "log" and value > 0:
                r[i] = math.log(value / reference)
                w[i] = count
            elif self.scale == "difference" and value >= 0:
                r[i] = value - reference
                w[i] = count
        self._learn(self.ratio[:, 0], self.weight[:, 0], self.alarm[:, 0])
        self.ratio = np.concatenate((self.ratio[:, 1:], r[:, None]), axis=1)
        self.weight = np.concatenate((self.weight[:, 1:], w[:, None]), axis=1)
        self.alarm = np.concatenate((self.alarm[:, 1:], np.zeros((n, 1), dtype=bool)), axis=1)
        z = self._z()
        warm = (self.learnt >= self.warmup) & (w > 0)  # a gap minute raises nothing
        hit = warm & (
            (z <= -self.threshold) if self.direction == "down" else (np.abs(z) >= self.threshold)
        )
        self.alarm[:, -1] = hit
        self.streak = np.where(hit, self.streak + 1, 0)
        shifted = self.streak >= self.adapt_after
        if shifted.any():  # a lasting level: the recent minutes are the new normal
            kept = self.weight[shifted]
            total = np.maximum(kept.sum(axis=1), 1e-12)
            self.base[shifted] = (self.ratio[shifted] * kept).sum(axis=1) / total
            self.alarm[shifted] = False
            self.streak[shifted] = 0
        out = []
        recent = slice(self.lag - self.window, self.lag)
        for i in np.flatnonzero(hit).tolist():
            wr = self.weight[i, recent]
            level = float((self.ratio[i, recent] * wr).sum() / max(wr.sum(), 1e-12))
            value = rpm[self.ids[i]]
            out.append(
                PeerAnomaly(
                    entity_id=self.ids[i],
                    value=float(value),
                    sliding_mean=self._level(reference, level),
                    baseline=self._level(reference, float(self.base[i])),
                    z=round(float(z[i]), 3),
                    score=round(abs(float(z[i])) / (abs(float(z[i])) + self.threshold), 4),
                )
            )
        return out

    def _level(self, reference: float, r: float) -> float:
        """A ratio (or difference) back in the metric's units."""
        return reference * math.exp(r) if self.scale == "log" else reference + r

    def _learn(self, r: np.ndarray, w: np.ndarray, alarmed: np.ndarray) -> None:
        """Teach the baseline the minute leaving the test's reach (``lag`` minutes old)."""
        ok = (w > 0) & ~alarmed
        first = ok & (self.learnt == 0)
        dev = r - self.base
        sd = np.sqrt(self.noise / np.maximum(w, 1e-12))
        limit = np.where(self.noise > 0, self.clip * sd, np.inf)
        step = np.clip(dev, -limit, limit)
        var = dev * dev * w
        var = np.where(self.noise > 0, np.minimum(var, self.clip**2 * self.noise), var)
        a = self.alpha
        update = ok & ~first
        self.base = np.where(first, r, np.where(update, self.base + a * step, self.base))
        # the first minutes' deviations say little yet: start the noise from a uniform guess
        seeded = update & (self.noise == 0)
        self.noise = np.where(seeded, var, self.noise)
        plain = update & ~seeded
        self.noise = np.where(plain, (1.0 - a) * self.noise + a * var, self.noise)
        self.learnt = self.learnt + ok

    def _z(self) -> np.ndarray:
        """Requests-weighted mean deviation of the last ``window`` minutes, in standard errors."""
        recent = slice(self.lag - self.window, self.lag)
        w = self.weight[:, recent]
        dev = self.ratio[:, recent] - self.base[:, None]
        c = np.maximum(self.noise, 1e-12)[:, None]
        u = np.clip(dev * np.sqrt(w / c), -self.clip, self.clip)
        total = w.sum(axis=1)
        z = (u * np.sqrt(w)).sum(axis=1) / np.sqrt(np.maximum(total, 1e-12))
        return np.where((total > 0) & (self.noise > 0), z, 0.0)

    # ---- checkpoint -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"ids": self.ids, **{name: getattr(self, name).tolist() for name in _ARRAYS}}

    def load(self, body: Mapping[str, Any]) -> None:
        """Restore the state :meth:`to_dict` wrote (same ``lag``)."""
        self.ids = list(body["ids"])
        self.index = {e: i for i, e in enumerate(self.ids)}
        n = len(self.ids)
        self.base = np.asarray(body["base"], dtype=np.float64).reshape(n)
        self.noise = np.asarray(body["noise"], dtype=np.float64).reshape(n)
        self.learnt = np.asarray(body["learnt"], dtype=np.int64).reshape(n)
        self.streak = np.asarray(body["streak"], dtype=np.int64).reshape(n)
        self.ratio = np.asarray(body["ratio"], dtype=np.float64).reshape(n, self.lag)
        self.weight = np.asarray(body["weight"], dtype=np.float64).reshape(n, self.lag)
        self.alarm = np.asarray(body["alarm"], dtype=bool).reshape(n, self.lag)
