"""The anomaly ensemble: scale the features, fit the four detectors, and put their scores on
one scale.

Each member's score is reported as its rank among that member's training scores (the share of
training rows it beats, in [0, 1]): it reads the same for a One-Class SVM margin, an isolation
path length, a LOF ratio and a reconstruction error, e.g. 0.99 = "more anomalous than 99% of
what the detector was fitted on". The ensemble averages the members' *robust z-scores*
((score - training median) / training IQR) and reports that average's rank among the training
rows' averages, so it is in [0, 1] too. Averaging ranks instead would cap every member at 1 and
let a member that misses a kind of anomaly pull it down as much as a confident one pushes it up:
on the synthetic metrics of ``synthetic.py`` the mean of ranks finds 0.6-0.8 of the injected
rows in its top k where the mean of robust z finds 0.95, as many as the best member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import RobustScaler

from ssmas.campaigns.anomaly.detectors import DETECTORS, Detector, make_detectors

__all__ = ["AnomalyEnsemble", "AnomalyInputError", "Scores", "rank_normalise"]

MIN_ROWS = 10


class AnomalyInputError(ValueError):
    """Data the detectors cannot fit or score; the message says why in one line."""


def rank_normalise(train_scores: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each score as the share of ``train_scores`` at or below it (ties counted half), in [0, 1]."""
    ordered = np.sort(train_scores)
    below = np.searchsorted(ordered, scores, side="left")
    at_or_below = np.searchsorted(ordered, scores, side="right")
    result: np.ndarray = (below + at_or_below) / (2.0 * len(ordered))
    return result


def _robust_z(train_scores: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``(scores - median) / IQR`` of the training scores (1 when the IQR is 0)."""
    q25, median, q75 = np.percentile(train_scores, [25, 50, 75])
    spread = float(q75 - q25) or 1.0
    result: np.ndarray = (scores - median) / spread
    return result


@dataclass(frozen=True)
class Scores:
    """Per-row scores in [0, 1]: each detector's rank and the ensemble's."""

    ensemble: np.ndarray
    members: dict[str, np.ndarray]

    def top(self, k: int) -> np.ndarray:
        """Row positions of the ``k`` highest ensemble scores, highest first."""
        order: np.ndarray = np.argsort(-self.ensemble, kind="stable")[:k]
        return order


def _matrix(data: pd.DataFrame | np.ndarray, columns: Sequence[str] | None) -> np.ndarray:
    if isinstance(data, pd.DataFrame):
        frame = data if columns is None else data.loc[:, list(columns)]
        non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        if non_numeric:
            raise AnomalyInputError(f"non-numeric feature column(s): {', '.join(non_numeric)}")
        x = frame.to_numpy(dtype=float)
    else:
        x = np.asarray(data, dtype=float)
    if x.ndim != 2 or x.shape[1] == 0:
        raise AnomalyInputError(f"features must be a 2-D table with columns, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise AnomalyInputError(f"{int((~np.isfinite(x)).sum())} missing or infinite value(s)")
    return x


class AnomalyEnsemble:
    """Isolation Forest + One-Class SVM + LOF + autoencoder on one [0, 1] scale (see above)."""

    def __init__(
        self,
        *,
        detectors: Sequence[str] = DETECTORS,
        contamination: float = 0.05,
        seed: int = 0,
    ) -> None:
        unknown = set(detectors) - set(DETECTORS)
        if unknown or not detectors:
            raise AnomalyInputError(f"detectors must be among {', '.join(DETECTORS)}")
        if not 0 < contamination < 0.5:
            raise AnomalyInputError(f"contamination must be in (0, 0.5), got {contamination}")
        self.names = tuple(detectors)
        self.contamination = contamination
        self.seed = seed
        self.columns: list[str] | None = None
        self._scaler: RobustScaler | None = None
        self._fitted: dict[str, Detector] = {}
        self._train: dict[str, np.ndarray] = {}
        self._train_combined = np.zeros(0)

    def fit(
        self, data: pd.DataFrame | np.ndarray, columns: Sequence[str] | None = None
    ) -> AnomalyEnsemble:
        """Fit every detector on ``data`` (the numeric ``columns`` of a frame, or a matrix)."""
        x = _matrix(data, columns)
        if len(x) < MIN_ROWS:
            raise AnomalyInputError(f"need at least {MIN_ROWS} rows to fit, got {len(x)}")
        if isinstance(data, pd.DataFrame):
            self.columns = list(columns) if columns is not None else list(data.columns)
        self._scaler = RobustScaler(unit_variance=True).fit(x)
        z = self._scaler.transform(x)
        made = make_detectors(x.shape[1], len(x), contamination=self.contamination, seed=self.seed)
        self._fitted = {name: made[name].fit(z) for name in self.names}
        self._train = {name: det.score(z) for name, det in self._fitted.items()}
        self._train_combined = self._combine(self._train)
        return self

    def _combine(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        """The mean of the members' robust z-scores (each against its own training scores)."""
        zs = [_robust_z(self._train[name], raw[name]) for name in self.names]
        result: np.ndarray = np.mean(np.vstack(zs), axis=0)
        return result

    def score(self, data: pd.DataFrame | np.ndarray) -> Scores:
        """Normalised scores of every row of ``data`` (same columns as the fit)."""
        if self._scaler is None:
            raise AnomalyInputError("fit the ensemble before scoring")
        columns = self.columns if isinstance(data, pd.DataFrame) else None
        if isinstance(data, pd.DataFrame) and columns is not None:
            missing = [c for c in columns if c not in data.columns]
            if missing:
                raise AnomalyInputError(f"missing feature column(s): {', '.join(missing)}")
        x = _matrix(data, columns)
        if x.shape[1] != self._scaler.n_features_in_:
            raise AnomalyInputError(
                f"fitted on {self._scaler.n_features_in_} features, got {x.shape[1]}"
            )
        z = self._scaler.transform(x)
        raw = {name: det.score(z) for name, det in self._fitted.items()}
        members = {name: rank_normalise(self._train[name], s) for name, s in raw.items()}
        ensemble = rank_normalise(self._train_combined, self._combine(raw))
        return Scores(ensemble=ensemble, members=members)
