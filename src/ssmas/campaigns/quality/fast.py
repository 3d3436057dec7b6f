"""Fast scoring of the ensemble: each member's native predictor on a float32 numpy matrix.

``LeadQualityEnsemble.member_probabilities`` goes through each library's ``predict_proba``:
input checks, a DataFrame-aware path, and for XGBoost a DMatrix per call. :class:`FastScorer`
keeps what prediction needs and nothing else: XGBoost's booster cut to its early-stopped rounds
(``inplace_predict``, no DMatrix), LightGBM's booster (``predict`` on the array, its best
iteration, one thread), scikit-learn gradient boosting's ``decision_function`` (its compiled
tree walk) and the MLP as its own weights (scaling, ReLU layers and the logistic output in
numpy: for one lead a few microseconds instead of scikit-learn's checks). Up to
:data:`FOREST_ROWS` leads, the three boosted members are walked together as one compiled numpy
forest instead (``ssmas.campaigns.quality.forest``: the libraries' per-call set-up costs more
than the trees for one lead). Differential tests hold both paths, every member and the weighted
score, to the libraries' own predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import expit
from threadpoolctl import threadpool_limits

from ssmas.campaigns.quality.ensemble import LeadQualityEnsemble
from ssmas.campaigns.quality.features import N_FEATURES, LeadFeatureError
from ssmas.campaigns.quality.forest import compile_members

FloatArray = npt.NDArray[np.float64]
FOREST_ROWS = 32


@dataclass
class Scores:
    """Per lead: quality 0-100 (100 times the conversion probability), spread between members
    (standard deviation, same scale) and confidence ``1 - spread / 50`` (1 when the members
    agree; 0 at the widest disagreement possible)."""

    quality: FloatArray
    spread: FloatArray
    confidence: FloatArray


class _Mlp:
    """The fitted scaler + MLP of the ensemble's pipeline as plain arrays."""

    def __init__(self, pipeline: Any) -> None:
        scaler, mlp = pipeline.named_steps["scale"], pipeline.named_steps["mlp"]
        if mlp.activation != "relu" or mlp.out_activation_ != "logistic":
            raise ValueError("the fast MLP expects ReLU hidden layers and a logistic output")
        # float32 throughout, as scikit-learn computes for float32 input (and BLAS's sgemm)
        self.mean = np.asarray(scaler.mean_, dtype=np.float32)
        self.scale = np.asarray(scaler.scale_, dtype=np.float32)
        self.weights = [np.asarray(w, dtype=np.float32) for w in mlp.coefs_]
        self.biases = [np.asarray(b, dtype=np.float32) for b in mlp.intercepts_]

    def predict(self, x: npt.NDArray[np.float32]) -> FloatArray:
        h = (x - self.mean) / self.scale
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            h = h @ w
            h += b
            np.maximum(h, 0.0, out=h)
        out = h @ self.weights[-1] + self.biases[-1]
        return np.asarray(expit(out[:, 0]), dtype=np.float64)


class _GradientBoosting:
    """scikit-learn's compiled tree walk (``predict_stages``, what ``decision_function`` calls)
    without its per-call input checks; the prior's log-odds is the constant start."""

    def __init__(self, model: Any) -> None:
        from sklearn.ensemble._gradient_boosting import predict_stages

        self._walk = predict_stages
        self.estimators = model.estimators_
        self.rate = float(model.learning_rate)
        probe = np.zeros((1, model.n_features_in_), dtype=np.float32)
        self.start = float(model.decision_function(probe)[0]) - self._trees(probe)[0]

    def _trees(self, x: npt.NDArray[np.float32]) -> FloatArray:
        out = np.zeros((x.shape[0], 1), dtype=np.float64)
        self._walk(self.estimators, np.ascontiguousarray(x, dtype=np.float32), self.rate, out)
        return out[:, 0]

    def predict(self, x: npt.NDArray[np.float32]) -> FloatArray:
        raw = self._trees(x)
        raw += self.start
        return np.asarray(expit(raw), dtype=np.float64)


class FastScorer:
    """The ensemble's members and weights in their fastest exact form (see the module)."""

    def __init__(self, ensemble: LeadQualityEnsemble, version: str = "unregistered") -> None:
        if not ensemble.models_:
            raise ValueError("the ensemble is not fitted")
        self.version = version
        self.members = ensemble.members
        self.weights = ensemble.weight_vector()
        self._predict = [self._member(name, ensemble.models_[name]) for name in self.members]
        tree_models = {n: m for n, m in ensemble.models_.items() if n != "neural_network"}
        names, self.forest = compile_members(tree_models, N_FEATURES)
        self._forest_rows = [self.members.index(n) for n in names]
        self._other_rows = [i for i, n in enumerate(self.members) if n not in names]

    @staticmethod
    def _member(name: str, model: Any) -> Any:
        if name == "xgboost":
            booster = model.get_booster()[: int(model.best_iteration) + 1]
            booster.set_param({"nthread": 1})
            return lambda x: np.asarray(
                booster.inplace_predict(x, validate_features=False), dtype=np.float64
            )
        if name == "lightgbm":
            lgb_booster, best = model.booster_, model.best_iteration_ or None
            return lambda x: np.asarray(
                lgb_booster.predict(x, num_iteration=best, num_threads=1), dtype=np.float64
            )
        if name == "gradient_boosting":
            return _GradientBoosting(model).predict
        if name == "neural_network":
            return _Mlp(model).predict
        raise ValueError(f"no fast form for member {name!r}")

    def member_probabilities(self, x: npt.NDArray[np.float32]) -> FloatArray:
        """(members, rows) conversion probabilities, as the ensemble's own method."""
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise LeadFeatureError(f"expected a (rows, {N_FEATURES}) matrix, got {x.shape}")
        if x.shape[0] > FOREST_ROWS:
            return self.native_probabilities(x)
        return self.small_probabilities(x)

    def native_probabilities(self, x: npt.NDArray[np.float32]) -> FloatArray:
        """Every member through its native predictor, whatever the number of rows.

        BLAS gets one thread, as the tree libraries do: on a shared machine its spinning
        threads made the MLP's products several times slower, not faster."""
        with threadpool_limits(limits=1, user_api="blas"):
            return np.vstack([predict(x) for predict in self._predict])

    def small_probabilities(self, x: npt.NDArray[np.float32]) -> FloatArray:
        """The boosted members through the compiled forest, the others natively."""
        out = np.empty((len(self.members), x.shape[0]))
        out[self._forest_rows] = expit(self.forest.margins(x))
        for i in self._other_rows:
            out[i] = self._predict[i](x)
        return out

    def weight_vector(self) -> FloatArray:
        return self.weights

    def score(self, x: npt.NDArray[np.float32]) -> Scores:
        """Quality, spread and confidence for each row of a feature matrix."""
        probabilities = self.member_probabilities(x)
        quality = np.clip(100.0 * (self.weights @ probabilities), 0.0, 100.0)
        spread = 100.0 * probabilities.std(axis=0)
        return Scores(quality, spread, np.clip(1.0 - spread / 50.0, 0.0, 1.0))
