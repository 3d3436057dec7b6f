"""How well a lead-quality model recovers the simulator's ground truth, on held-out leads.

Besides the ensemble's AUC on the held-out labels, the report gives each member's AUC (the best
single model is the comparison the issue asks for), the oracle's AUC (the true probability
itself, the ceiling no model can pass), the share of the oracle's skill above chance the model
reaches, Brier scores, and how close the predicted probabilities are to the true ones.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from ssmas.campaigns.quality.features import lead_matrix


class Scorer(Protocol):
    members: tuple[str, ...]

    def member_probabilities(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]: ...

    def weight_vector(self) -> npt.NDArray[np.float64]: ...


def evaluate(model: Scorer, leads: pd.DataFrame) -> dict[str, float]:
    """Metrics of ``model`` on simulated leads (they carry ``converted`` and ``true_p``)."""
    y = leads["converted"].to_numpy(bool)
    if y.all() or not y.any():
        raise ValueError("evaluation needs both converted and unconverted leads")
    true_p = leads["true_p"].to_numpy(np.float64)
    members = model.member_probabilities(lead_matrix(leads))
    p = model.weight_vector() @ members
    auc = float(roc_auc_score(y, p))
    oracle = float(roc_auc_score(y, true_p))
    metrics = {
        f"auc_{name}": float(roc_auc_score(y, row))
        for name, row in zip(model.members, members, strict=True)
    }
    best = max(metrics.values())
    metrics.update(
        {
            "auc": auc,
            "best_single_auc": best,
            "ensemble_vs_best_single": auc / best,
            "oracle_auc": oracle,
            "oracle_skill_share": (auc - 0.5) / (oracle - 0.5) if oracle > 0.5 else float("nan"),
            "brier": float(brier_score_loss(y, p)),
            "oracle_brier": float(brier_score_loss(y, true_p)),
            "true_p_corr": float(np.corrcoef(p, true_p)[0, 1]),
            "true_p_mae": float(np.mean(np.abs(p - true_p))),
            "mean_spread": float(100.0 * members.std(axis=0).mean()),
            "leads": float(len(y)),
            "conversion_rate": float(y.mean()),
        }
    )
    return metrics
