"""Synthetic campaign metrics with injected anomalies, shared by the tests and the benchmark so
both score the ensemble on the same kind of data with the truth known.

Normal rows come from two latent factors (reach-driven and engagement-driven) mixed into five
metrics with small noise. Half the injected rows break the factors' correlations (each value
plausible on its own, the combination not); the other half are extreme in one metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "injected_metrics", "precision_at_k"]

COLUMNS = ("sent", "delivered_rate", "click_rate", "conversion_rate", "cost_per_conversion")
_MIX = np.array([[1.0, 0.8, 0.6, 0.5, -0.7], [0.0, 0.3, 0.8, 0.9, -0.5]])
_SCALE = np.array([10_000, 0.05, 0.01, 0.005, 20.0])
_CENTRE = np.array([50_000, 0.9, 0.03, 0.02, 150.0])


def injected_metrics(n: int, k: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` rows of campaign metrics of which ``k`` are injected anomalies; the mask says which."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)) @ _MIX + 0.15 * rng.normal(size=(n, 5))
    injected = rng.choice(n, k, replace=False)
    half = k // 2
    x[injected[:half]] = rng.normal(size=(half, 5)) * 1.2  # off the factor plane
    rest = injected[half:]
    column = rng.integers(0, 5, len(rest))
    push = rng.choice([-1, 1], len(rest)) * rng.uniform(5, 8, len(rest))
    x[rest, column] += push
    truth = np.zeros(n, dtype=bool)
    truth[injected] = True
    return pd.DataFrame(_CENTRE + x * _SCALE, columns=list(COLUMNS)), truth


def precision_at_k(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    """The share of true anomalies among the ``k`` highest scores."""
    top = np.argsort(-scores, kind="stable")[:k]
    return float(truth[top].mean())
