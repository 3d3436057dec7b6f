"""The ensemble's trees compiled into one flat forest walked with numpy, for a few leads.

For one lead, XGBoost's ``inplace_predict`` spends most of its time setting up the call (a
proxy matrix, an array-interface string), not walking trees. :class:`CompiledForest` holds
every tree of the three boosted members (XGBoost cut to its early-stopped rounds, LightGBM's
best iteration, scikit-learn's gradient boosting scaled by its learning rate) as flat node
arrays and walks all of them at once: one gather and one comparison per level, a handful of
numpy calls for the whole ensemble. The split rules differ (XGBoost goes left when
``x < t``, LightGBM and scikit-learn when ``x <= t``); inputs are float32, so ``x < t`` is
``x <= nextafter(t, -inf)`` in float64 and one rule serves all. Each member's constant (base
score, prior log-odds) is what its own predictor adds to the sum of the leaves, read off one
probe row. Inputs are finite (the API refuses NaN), so missing-value branches never matter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Tree = tuple[list[int], list[float], list[int], list[int], list[float]]
"""feature, threshold (go left when x <= threshold), left, right, leaf value; local ids."""


def _xgboost_trees(booster: Any) -> list[Tree]:
    frame = booster.trees_to_dataframe()
    trees = []
    for _, nodes in frame.groupby("Tree", sort=True):
        ids = {node_id: i for i, node_id in enumerate(nodes["ID"])}
        leaf = (nodes["Feature"] == "Leaf").to_numpy()
        names = nodes["Feature"]
        features = [0 if is_leaf else int(f[1:]) for f, is_leaf in zip(names, leaf, strict=True)]
        split = nodes["Split"].fillna(0.0).to_numpy(np.float64)
        # XGBoost compares float32 values and goes left when x < t: as x <= nextafter(t, -inf)
        thresholds = np.where(
            leaf, 0.0, np.nextafter(split.astype(np.float32).astype(np.float64), -np.inf)
        )
        yes = zip(nodes["Yes"], leaf, strict=True)
        no = zip(nodes["No"], leaf, strict=True)
        left = [i if is_leaf else ids[y] for i, (y, is_leaf) in enumerate(yes)]
        right = [i if is_leaf else ids[n] for i, (n, is_leaf) in enumerate(no)]
        values = np.where(leaf, nodes["Gain"].to_numpy(np.float64), 0.0)
        trees.append((features, thresholds.tolist(), left, right, values.tolist()))
    return trees


class _TreeBuilder:
    """Flattens one nested LightGBM tree (``dump_model``'s ``tree_structure``) depth first."""

    def __init__(self) -> None:
        self.features: list[int] = []
        self.thresholds: list[float] = []
        self.left: list[int] = []
        self.right: list[int] = []
        self.values: list[float] = []

    def add(self, node: dict[str, Any]) -> int:
        index = len(self.features)
        self.features.append(0)
        self.thresholds.append(0.0)
        self.left.append(index)
        self.right.append(index)
        self.values.append(0.0)
        if "leaf_value" in node:
            self.values[index] = float(node["leaf_value"])
            return index
        if node.get("decision_type") != "<=":
            raise ValueError(f"LightGBM split {node.get('decision_type')!r} is not supported")
        self.features[index] = int(node["split_feature"])
        self.thresholds[index] = float(node["threshold"])
        self.left[index] = self.add(node["left_child"])
        self.right[index] = self.add(node["right_child"])
        return index

    def tree(self) -> Tree:
        return self.features, self.thresholds, self.left, self.right, self.values


def _lightgbm_trees(booster: Any, iterations: int | None) -> list[Tree]:
    trees = []
    for info in booster.dump_model(num_iteration=iterations)["tree_info"]:
        builder = _TreeBuilder()
        builder.add(info["tree_structure"])
        trees.append(builder.tree())
    return trees


def _sklearn_trees(model: Any) -> list[Tree]:
    trees = []
    rate = float(model.learning_rate)
    for estimator in model.estimators_[:, 0]:
        tree = estimator.tree_
        leaf = tree.children_left < 0
        index = np.arange(tree.node_count)
        trees.append(
            (
                np.where(leaf, 0, tree.feature).tolist(),
                np.where(leaf, 0.0, tree.threshold).tolist(),
                np.where(leaf, index, tree.children_left).tolist(),
                np.where(leaf, index, tree.children_right).tolist(),
                np.where(leaf, rate * tree.value[:, 0, 0], 0.0).tolist(),
            )
        )
    return trees


def _depth(tree: Tree) -> int:
    _, _, left, right, _ = tree
    deepest, stack = 0, [(0, 0)]
    while stack:
        node, depth = stack.pop()
        if left[node] == node:
            deepest = max(deepest, depth)
        else:
            stack += [(left[node], depth + 1), (right[node], depth + 1)]
    return deepest


class CompiledForest:
    """Trees of several members as flat arrays; :meth:`margins` is each member's raw score."""

    def __init__(self, members: list[list[Tree]], starts: list[float] | None = None) -> None:
        features: list[int] = []
        thresholds: list[float] = []
        left: list[int] = []
        right: list[int] = []
        values: list[float] = []
        roots: list[int] = []
        owners: list[int] = []
        depth = 0
        for member, trees in enumerate(members):
            for tree in trees:
                offset = len(features)
                roots.append(offset)
                owners.append(member)
                f, t, lo, hi, v = tree
                features += f
                thresholds += t
                left += [offset + i for i in lo]
                right += [offset + i for i in hi]
                values += v
                depth = max(depth, _depth(tree))
        self.feature = np.asarray(features, dtype=np.intp)
        self.threshold = np.asarray(thresholds, dtype=np.float64)
        self.left = np.asarray(left, dtype=np.intp)
        self.right = np.asarray(right, dtype=np.intp)
        self.value = np.asarray(values, dtype=np.float64)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.owner = np.asarray(owners, dtype=np.intp)
        self.n_members = len(members)
        # trees are stored member by member: each member's trees are one slice for reduceat
        self.member_starts = np.searchsorted(self.owner, np.arange(len(members)))
        self.depth = depth
        self.start = np.asarray(starts or [0.0] * len(members), dtype=np.float64)

    def margins(self, x: npt.NDArray[np.float32]) -> FloatArray:
        """(members, rows) raw scores (log-odds) of a float32 feature matrix."""
        values = x.astype(np.float64)
        if x.shape[0] == 1:  # one lead: 1-d gathers, the cheapest numpy calls
            row = values[0]
            node = self.roots
            for _ in range(self.depth):
                go_left = row[self.feature[node]] <= self.threshold[node]
                node = np.where(go_left, self.left[node], self.right[node])
            sums = np.add.reduceat(self.value[node], self.member_starts)
            return (sums + self.start)[:, None]
        rows = np.arange(x.shape[0])[:, None]
        nodes = np.broadcast_to(self.roots, (x.shape[0], self.roots.size))
        for _ in range(self.depth):
            go_left = values[rows, self.feature[nodes]] <= self.threshold[nodes]
            nodes = np.where(go_left, self.left[nodes], self.right[nodes])
        sums = np.add.reduceat(self.value[nodes], self.member_starts, axis=1)  # (rows, members)
        return np.asarray(sums.T + self.start[:, None])


def compile_members(models: dict[str, Any], n_features: int) -> tuple[list[str], CompiledForest]:
    """The boosted members of ``models`` (by name) compiled; constants read off a probe row."""
    names: list[str] = []
    trees: list[list[Tree]] = []
    natives: list[Callable[[npt.NDArray[np.float32]], Any]] = []
    if "xgboost" in models:
        booster = models["xgboost"].get_booster()[: int(models["xgboost"].best_iteration) + 1]
        names.append("xgboost")
        trees.append(_xgboost_trees(booster))
        natives.append(lambda x: booster.inplace_predict(x, predict_type="margin"))
    if "lightgbm" in models:
        model = models["lightgbm"]
        best = model.best_iteration_ or None
        names.append("lightgbm")
        trees.append(_lightgbm_trees(model.booster_, best))
        natives.append(lambda x: model.booster_.predict(x, raw_score=True, num_iteration=best))
    if "gradient_boosting" in models:
        names.append("gradient_boosting")
        trees.append(_sklearn_trees(models["gradient_boosting"]))
        natives.append(models["gradient_boosting"].decision_function)
    forest = CompiledForest(trees)
    probe = np.zeros((1, n_features), dtype=np.float32)
    sums = forest.margins(probe)[:, 0]
    forest.start = np.array(
        [
            float(np.asarray(native(probe)).ravel()[0]) - s
            for native, s in zip(natives, sums, strict=True)
        ]
    )
    return names, forest
