"""Single-row scoring by walking the booster's trees with numpy, checked against XGBoost.

For one row, ``Booster.inplace_predict`` spends far more time in per-call set-up (Python and C)
than in the trees. :class:`TreeWalker` loads the trees once from the booster's own JSON dump into
flat arrays and walks all of them together, one numpy gather per level: each node's feature,
threshold and children; a missing value follows the node's default branch (the row is given
twice, NaN as -inf for default-left nodes and +inf for default-right ones, so one comparison
decides every node). Only plain regression trees are supported (``gbtree``, identity link,
numeric splits, one output); :func:`build_row_scorer` compares the walker with
``inplace_predict`` on probe rows (values inside and outside every split, missing values) and
uses it only when they agree, otherwise the model's own ``predict_matrix`` stays in charge.
Batches always go through XGBoost.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

_log = structlog.get_logger(__name__)
FloatArray = npt.NDArray[np.float64]
Prediction = tuple[FloatArray, FloatArray, FloatArray]
IDENTITY_OBJECTIVES = frozenset({"reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror"})
TOLERANCE = 1e-4


class UnsupportedModel(ValueError):
    """The booster is not one the walker reproduces exactly."""


def _base_score(learner: dict[str, Any]) -> float:
    raw = str(learner["learner_model_param"]["base_score"]).strip("[] ")
    values = [float(v) for v in raw.split(",") if v.strip()]
    if len(values) != 1:
        raise UnsupportedModel("multi-output boosters are not supported")
    return values[0]


class TreeWalker:
    """All trees of a regression booster as flat arrays, evaluated level by level on one row."""

    def __init__(self, booster: Any, n_features: int) -> None:
        model = json.loads(bytes(booster.save_raw("json")))
        learner = model["learner"]
        objective = learner["objective"]["name"]
        if objective not in IDENTITY_OBJECTIVES:
            raise UnsupportedModel(f"objective {objective!r} has a non-identity link")
        gbm = learner["gradient_booster"]
        if gbm.get("name") != "gbtree":
            raise UnsupportedModel(f"booster {gbm.get('name')!r} is not gbtree")
        trees = gbm["model"]["trees"]
        if any(int(i) != 0 for i in gbm["model"].get("tree_info", [])):
            raise UnsupportedModel("trees for more than one output")
        self.base = _base_score(learner)
        self.n_features = n_features
        feature, threshold, children, leaf, roots = [], [], [], [], []
        depth = 0
        offset = 0
        for tree in trees:
            if any(int(t) != 0 for t in tree.get("split_type", [])):
                raise UnsupportedModel("categorical splits are not supported")
            left = np.asarray(tree["left_children"], dtype=np.int64)
            right = np.asarray(tree["right_children"], dtype=np.int64)
            split = np.asarray(tree["split_indices"], dtype=np.int64)
            cond = np.asarray(tree["split_conditions"], dtype=np.float32)
            default_left = np.asarray(tree["default_left"], dtype=bool)
            is_leaf = left == -1
            here = np.arange(left.size, dtype=np.int64) + offset
            if (split[~is_leaf] >= n_features).any():
                raise UnsupportedModel("a split uses a feature outside the schema")
            # Slots are 2 * node: the left child at slot, the right child at slot + 1.
            kids = np.stack(
                [np.where(is_leaf, here, left + offset), np.where(is_leaf, here, right + offset)],
                axis=1,
            )
            children.append(2 * kids)
            feature.append(np.where(is_leaf, 0, split + np.where(default_left, 0, n_features)))
            threshold.append(np.where(is_leaf, np.float32(0.0), cond))
            leaf.append(np.where(is_leaf, cond.astype(np.float64), 0.0))
            roots.append(2 * offset)
            depth = max(depth, _depth(left, right))
            offset += left.size
        if not trees:
            raise UnsupportedModel("the booster has no trees")
        self.depth = depth
        self.roots = np.asarray(roots, dtype=np.int64)
        # Per-node arrays indexed by slot (2 * node); odd slots are never read.
        self.children = np.concatenate(children).reshape(-1)
        self.feature = np.repeat(np.concatenate(feature), 2)
        self.threshold = np.repeat(np.concatenate(threshold), 2)
        self.leaf = np.repeat(np.concatenate(leaf), 2)

    def predict(self, row: npt.NDArray[np.float32]) -> float:
        """The booster's prediction for one feature row."""
        missing = np.isnan(row)
        doubled = np.concatenate([np.where(missing, -np.inf, row), np.where(missing, np.inf, row)])
        slot = self.roots
        for _ in range(self.depth):
            go_right = doubled[self.feature[slot]] >= self.threshold[slot]
            slot = self.children[slot + go_right]
        return float(self.leaf[slot].sum()) + self.base


def _depth(left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]) -> int:
    deepest, frontier = 0, [0]
    while frontier:
        nxt = [c for n in frontier for c in (left[n], right[n]) if c != -1]
        if nxt:
            deepest += 1
        frontier = nxt
    return deepest


class RowScorer:
    """Point (never below zero) and 80% interval for one row, as ``predict_matrix`` gives them.

    The interval of one point is plain float arithmetic (the same IEEE operations numpy does on
    a 1-element array, so the same bits) when the model's interval is the one training fits:
    normalised by the spread, no per-group bounds. Anything else goes through
    ``predict_interval``.
    """

    def __init__(self, model: Any, walker: TreeWalker) -> None:
        from ssmas.pricing.model.bundle import MIN_SPREAD

        self.model = model
        self.walker = walker
        iv = model.intervals
        self._scalar = bool(getattr(iv, "normalized_", False)) and not getattr(
            iv, "group_bounds_", None
        )
        if self._scalar:
            self._low, self._high = (float(b) for b in iv.bounds_)
            self._min_spread = max(MIN_SPREAD, float(iv.min_spread))
            self._clip = None if iv.clip_lower is None else float(iv.clip_lower)

    def predict_one(self, row: npt.NDArray[np.float32]) -> tuple[float, float, float]:
        """Point, lower and upper bound of one encoded row, as Python floats."""
        point = max(self.walker.predict(row), 0.0)
        if not self._scalar:
            _p, low, high = self._interval(np.array([point]))
            return point, float(low[0]), float(high[0])
        scale = max(point, self._min_spread)
        lower, upper = point + self._low * scale, point + self._high * scale
        if self._clip is not None:
            lower, upper = max(lower, self._clip), max(upper, self._clip)
        return point, lower, upper

    def predict_row(self, row: npt.NDArray[np.float32]) -> Prediction:
        """:meth:`predict_one` as 1-element arrays (the shape of ``predict_matrix``)."""
        point, lower, upper = self.predict_one(row)
        return np.array([point]), np.array([lower]), np.array([upper])

    def _interval(self, point: FloatArray) -> Prediction:
        from ssmas.pricing.model.bundle import spread_of

        lower, upper = self.model.intervals.predict_interval(point, spread=spread_of(point))
        return point, lower, upper


def build_row_scorer(model: Any) -> RowScorer | None:
    """A checked :class:`RowScorer` for ``model``, or None to keep ``predict_matrix``."""
    try:
        n = int(model.encoder.n_features)
        walker = TreeWalker(model.booster, n)
        rows = probe_rows(walker, n)
        expected = np.asarray(
            model.booster.inplace_predict(rows, validate_features=False), dtype=np.float64
        ).reshape(-1)
        got = np.array([walker.predict(r) for r in rows])
        scale = np.maximum(np.abs(expected), 1.0)
        worst = float(np.max(np.abs(got - expected) / scale))
        if expected.shape != got.shape or not worst <= TOLERANCE:
            _log.warning("pricing_row_scorer_mismatch", worst_relative_error=worst)
            return None
        return RowScorer(model, walker)
    except Exception as exc:  # anything unexpected: the public path still works
        _log.info("pricing_row_scorer_unavailable", error=repr(exc)[:200])
        return None


def probe_rows(walker: TreeWalker, n: int, count: int = 64) -> npt.NDArray[np.float32]:
    """Rows that take every kind of branch: values at, just below and beyond the thresholds."""
    rng = np.random.default_rng(0)
    used = walker.feature[::2] % n
    rows = np.empty((count, n), dtype=np.float32)
    for j in range(n):
        cuts = walker.threshold[::2][used == j]
        pool = np.concatenate([cuts, np.nextafter(cuts, -np.inf), [-1e6, 0.0, 1e6]])
        rows[:, j] = rng.choice(pool, size=count)
    rows[rng.random((count, n)) < 0.15] = np.nan
    return rows
