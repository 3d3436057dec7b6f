"""The four anomaly detectors of the seed's ``AnomalyDetectionSystem`` behind one shape: fit on
a (scaled) training matrix, then give each row a raw score where higher means more anomalous.

Isolation Forest, One-Class SVM and Local Outlier Factor are scikit-learn's; the seed's Keras
autoencoder becomes scikit-learn's ``MLPRegressor`` trained to reproduce its input through a
narrow middle layer, scored by the mean squared reconstruction error (no torch or TensorFlow).
Raw scores are on different scales; :mod:`ssmas.campaigns.anomaly.ensemble` normalises them.
"""

from __future__ import annotations

import warnings
from typing import Protocol

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import LocalOutlierFactor
from sklearn.neural_network import MLPRegressor
from sklearn.svm import OneClassSVM

__all__ = ["DETECTORS", "Autoencoder", "Detector", "make_detectors"]

DETECTORS = ("isolation_forest", "one_class_svm", "local_outlier_factor", "autoencoder")


class Detector(Protocol):
    """Fit on normal-looking data; ``score`` is higher for rows less like it."""

    def fit(self, x: np.ndarray) -> Detector: ...

    def score(self, x: np.ndarray) -> np.ndarray: ...


class _Sklearn:
    """A scikit-learn outlier model whose ``score_samples`` is higher for normal rows."""

    def __init__(self, model: IsolationForest | OneClassSVM | LocalOutlierFactor) -> None:
        self.model = model

    def fit(self, x: np.ndarray) -> _Sklearn:
        self.model.fit(x)
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        result: np.ndarray = -np.asarray(self.model.score_samples(x), dtype=float)
        return result


class Autoencoder:
    """An MLP trained to reconstruct its input through a bottleneck; score = reconstruction MSE."""

    def __init__(self, n_features: int, seed: int = 0) -> None:
        hidden = max(2 * n_features, 8)
        bottleneck = max(1, n_features // 2)
        self.model = MLPRegressor(
            hidden_layer_sizes=(hidden, bottleneck, hidden),
            activation="tanh",
            max_iter=400,
            learning_rate_init=0.01,
            random_state=seed,
        )

    def fit(self, x: np.ndarray) -> Autoencoder:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(x, x)
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        reconstructed = np.asarray(self.model.predict(x), dtype=float).reshape(x.shape)
        result: np.ndarray = np.mean((x - reconstructed) ** 2, axis=1)
        return result


def make_detectors(
    n_features: int, n_rows: int, *, contamination: float = 0.05, seed: int = 0
) -> dict[str, Detector]:
    """The four detectors, sized for the data (LOF's neighbours never exceed the rows)."""
    return {
        "isolation_forest": _Sklearn(
            IsolationForest(n_estimators=200, contamination=contamination, random_state=seed)
        ),
        "one_class_svm": _Sklearn(OneClassSVM(nu=max(contamination, 0.01), gamma="scale")),
        "local_outlier_factor": _Sklearn(
            LocalOutlierFactor(n_neighbors=min(20, n_rows - 1), novelty=True)
        ),
        "autoencoder": Autoencoder(n_features, seed),
    }
