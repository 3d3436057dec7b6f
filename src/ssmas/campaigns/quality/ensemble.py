"""The seed's ensemble: XGBoost, LightGBM, an MLP and scikit-learn's gradient boosting,
weighted by their cross-validated score, with confidence from the spread between them.

The seed regresses a 0-100 score; our labels are conversions, so each member is the
classifier of the same family and the score is 100 times the predicted conversion probability.
Weights follow the seed (each member's cross-validated score over the total), with the score
taken as AUC's skill above chance, the Gini ``2 AUC - 1``: the seed's r² is also zero for a model
that knows nothing, and raw AUCs (all near 0.75) would weigh a useless member almost like a
good one. Members keep the seed's hyper-parameters (200 rounds, depth 6, rate 0.1, row and
column subsampling; MLP 100-50-25 ReLU with Adam), with early stopping on a tenth of the
training rows so a member stops adding trees once they no longer help (scoring stays fast).
The seed scales every input; only the MLP needs it, so the scaler sits in its pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import xgboost as xgb
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

MEMBERS: tuple[str, ...] = ("xgboost", "lightgbm", "neural_network", "gradient_boosting")
STOPPING_SHARE = 0.1
STOPPING_ROUNDS = 20
FloatArray = npt.NDArray[np.float64]
Progress = Callable[[str], None]


def member_estimators(seed: int = 0, *, rounds: int = 200) -> dict[str, Any]:
    """Unfitted members with the seed's hyper-parameters (one thread each)."""
    return {
        "xgboost": xgb.XGBClassifier(
            n_estimators=rounds,
            max_depth=6,
            learning_rate=0.1,
            subsample=0.8,
            colsample_bytree=0.8,
            tree_method="hist",
            early_stopping_rounds=STOPPING_ROUNDS,
            eval_metric="logloss",
            n_jobs=1,
            random_state=seed,
        ),
        "lightgbm": lgb.LGBMClassifier(
            n_estimators=rounds,
            max_depth=6,
            learning_rate=0.1,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            n_jobs=1,
            random_state=seed,
            verbose=-1,
        ),
        "neural_network": Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "mlp",
                    MLPClassifier(
                        hidden_layer_sizes=(100, 50, 25),
                        activation="relu",
                        solver="adam",
                        max_iter=500,
                        early_stopping=True,
                        validation_fraction=STOPPING_SHARE,
                        random_state=seed,
                    ),
                ),
            ]
        ),
        "gradient_boosting": GradientBoostingClassifier(
            n_estimators=rounds,
            max_depth=6,
            learning_rate=0.1,
            subsample=0.8,
            n_iter_no_change=10,
            validation_fraction=STOPPING_SHARE,
            random_state=seed,
        ),
    }


def fit_member(name: str, estimator: Any, x: npt.NDArray[np.float32], y: Any, seed: int) -> Any:
    """Fit one member; XGBoost and LightGBM stop early on a stratified tenth of the rows (the
    MLP and gradient boosting hold out their own tenth)."""
    if name not in {"xgboost", "lightgbm"}:
        return estimator.fit(x, y)
    x_fit, x_stop, y_fit, y_stop = train_test_split(
        x, y, test_size=STOPPING_SHARE, stratify=y, random_state=seed
    )
    if name == "xgboost":
        return estimator.fit(x_fit, y_fit, eval_set=[(x_stop, y_stop)], verbose=False)
    return estimator.fit(
        x_fit,
        y_fit,
        eval_X=(x_stop,),
        eval_y=(y_stop,),
        callbacks=[lgb.early_stopping(STOPPING_ROUNDS, verbose=False)],
    )


def gini_weights(scores: Mapping[str, float]) -> dict[str, float]:
    """Weights ∝ each member's skill above chance (``2 AUC - 1``, floored at 0); equal when no
    member has any."""
    skill = {name: max(2.0 * auc - 1.0, 0.0) for name, auc in scores.items()}
    total = sum(skill.values())
    if total <= 0.0:
        return {name: 1.0 / len(scores) for name in scores}
    return {name: s / total for name, s in skill.items()}


@dataclass
class LeadQualityEnsemble:
    """The fitted members, their cross-validated AUCs and their weights.

    ``fit`` runs ``folds``-fold stratified cross-validation of every member, sets the weights
    from it, then refits every member on all rows. Predictions: :meth:`member_probabilities`
    (the libraries' own ``predict_proba``, the reference the fast scorer is held to),
    :meth:`predict_proba` (weighted mean) and :meth:`predict_with_confidence`.
    """

    seed: int = 0
    folds: int = 5
    rounds: int = 200
    members: tuple[str, ...] = MEMBERS
    models_: dict[str, Any] = field(default_factory=dict)
    cv_auc_: dict[str, float] = field(default_factory=dict)
    cv_auc_std_: dict[str, float] = field(default_factory=dict)
    weights_: dict[str, float] = field(default_factory=dict)

    def fit(
        self, x: npt.NDArray[np.float32], y: Any, progress: Progress | None = None
    ) -> LeadQualityEnsemble:
        labels = np.asarray(y, dtype=np.int64)
        if len(np.unique(labels)) != 2:
            raise ValueError("lead quality needs both converted and unconverted leads")
        if unknown := set(self.members) - set(MEMBERS):
            raise ValueError(f"unknown members {sorted(unknown)}: use some of {list(MEMBERS)}")
        estimators = member_estimators(self.seed, rounds=self.rounds)
        splitter = StratifiedKFold(self.folds, shuffle=True, random_state=self.seed)
        for name in self.members:
            aucs = []
            for k, (train, valid) in enumerate(splitter.split(x, labels)):
                if progress:
                    progress(f"{name}: fold {k + 1}/{self.folds}")
                model = clone(estimators[name])
                fit_member(name, model, x[train], labels[train], self.seed)
                scores = model.predict_proba(x[valid])[:, 1]
                aucs.append(float(roc_auc_score(labels[valid], scores)))
            self.cv_auc_[name] = float(np.mean(aucs))
            self.cv_auc_std_[name] = float(np.std(aucs))
            if progress:
                progress(f"{name}: refit on all rows")
            self.models_[name] = fit_member(name, clone(estimators[name]), x, labels, self.seed)
        self.weights_ = gini_weights(self.cv_auc_)
        return self

    def member_probabilities(self, x: npt.NDArray[np.float32]) -> FloatArray:
        """(members, rows) conversion probabilities from each library's ``predict_proba``."""
        if not self.models_:
            raise ValueError("the ensemble is not fitted")
        return np.vstack([self.models_[n].predict_proba(x)[:, 1] for n in self.members])

    def weight_vector(self) -> FloatArray:
        return np.array([self.weights_[n] for n in self.members], dtype=np.float64)

    def predict_proba(self, x: npt.NDArray[np.float32]) -> FloatArray:
        """The weighted mean of the members' conversion probabilities."""
        probabilities = self.member_probabilities(x)
        return np.asarray(self.weight_vector() @ probabilities)

    def predict_with_confidence(self, x: npt.NDArray[np.float32]) -> tuple[FloatArray, FloatArray]:
        """Quality 0-100 and the spread (standard deviation between members, same scale)."""
        probabilities = self.member_probabilities(x)
        quality = 100.0 * (self.weight_vector() @ probabilities)
        return np.clip(quality, 0.0, 100.0), 100.0 * probabilities.std(axis=0)

    def tree_counts(self) -> dict[str, int]:
        """Trees each boosted member kept after early stopping."""
        counts = {}
        if "xgboost" in self.models_:
            counts["xgboost"] = int(self.models_["xgboost"].best_iteration) + 1
        if "lightgbm" in self.models_:
            model = self.models_["lightgbm"]
            counts["lightgbm"] = int(model.best_iteration_ or model.booster_.num_trees())
        if "gradient_boosting" in self.models_:
            counts["gradient_boosting"] = int(self.models_["gradient_boosting"].n_estimators_)
        return counts
