"""A price model for imported auction logs: it trains on whichever request features the log
has and says which it lacks.

The serving model (``bundle.py``) needs the full request schema of the exchange; a real log
carries a few of those fields (iPinYou: the exchange and the authors' predicted CTR). This model
takes the candidate features below that the training rows actually fill, XGBoost on them, and
reports itself against the two baselines a reader needs: the training mean and the per-exchange
training mean. Outcomes are never features: the click, the winner (``bidder``,
``demand_channel``) and the bids are known only after the auction.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb

TARGET = "clearing_cpm"
NUMERIC: tuple[str, ...] = (
    "historical_ctr_avg",
    "hour_of_day",
    "day_of_week",
    "country_tier",
    "floor_cpm",
    "user_engagement_score",
    "device_performance_score",
)
CATEGORICAL: tuple[str, ...] = (
    "ad_exchange",
    "device_category",
    "format",
    "ad_size",
    "inventory_type",
    "publisher_id",
    "domain",
    "ad_unit_id",
)
CANDIDATES: tuple[str, ...] = (*NUMERIC, *CATEGORICAL)
MAX_VOCAB = 256
PARAMS: dict[str, Any] = {"tree_method": "hist", "max_depth": 4, "eta": 0.05,
                          "min_child_weight": 50, "subsample": 0.8, "nthread": 1}  # fmt: skip
ROUNDS = 200
FILE_VERSION = 1


class LogModelError(ValueError):
    """Nothing to train on, or a model file that is not one of ours."""


def labelled(table: pa.Table) -> pa.Table:
    """Filled rows with a finite price: the ones a price model learns from and is scored on."""
    if table.num_rows == 0:
        return table
    price = table.column(TARGET)
    keep = pc.and_(pc.fill_null(table.column("filled"), False), pc.is_finite(price))
    return table.filter(pc.fill_null(keep, False))


def present_features(table: pa.Table) -> list[str]:
    """Candidate features the rows fill with at least two distinct values."""
    names = []
    for name in CANDIDATES:
        if name in table.column_names:
            values = table.column(name).drop_null()
            if len(values) and len(pc.unique(values)) > 1:
                names.append(name)
    return names


def _exchange_key(table: pa.Table) -> list[str]:
    if "ad_exchange" not in table.column_names:
        return [""] * table.num_rows
    return [v or "" for v in table.column("ad_exchange").to_pylist()]


@dataclass
class LogModel:
    """The booster, its features (with category vocabularies) and the training baselines."""

    features: list[str]
    vocab: dict[str, list[str]]
    booster: xgb.Booster
    train_mean: float
    exchange_means: dict[str, float]
    train_rows: int
    absent: list[str] = field(default_factory=list)

    def matrix(self, table: pa.Table) -> npt.NDArray[np.float32]:
        x = np.full((table.num_rows, len(self.features)), np.nan, dtype=np.float32)
        for j, name in enumerate(self.features):
            if name not in table.column_names:
                continue
            column = table.column(name)
            if name in self.vocab:
                codes = {v: float(i) for i, v in enumerate(self.vocab[name])}
                x[:, j] = [codes.get(v, np.nan) if v is not None else np.nan
                           for v in column.to_pylist()]  # fmt: skip
            else:
                x[:, j] = column.cast(pa.float64()).fill_null(np.nan).to_numpy()
        return x

    def predict(self, table: pa.Table) -> npt.NDArray[np.float64]:
        if not self.features:
            return np.full(table.num_rows, self.train_mean)
        out = self.booster.inplace_predict(self.matrix(table))
        return np.asarray(out, dtype=np.float64)

    def exchange_baseline(self, table: pa.Table) -> npt.NDArray[np.float64]:
        keys = _exchange_key(table)
        return np.array([self.exchange_means.get(k, self.train_mean) for k in keys])

    def save(self, path: Path) -> None:
        raw = bytes(self.booster.save_raw(raw_format="ubj"))
        body = {
            "kind": "ssmas-log-model",
            "version": FILE_VERSION,
            "features": self.features,
            "absent": self.absent,
            "vocab": self.vocab,
            "train_mean": self.train_mean,
            "exchange_means": self.exchange_means,
            "train_rows": self.train_rows,
            "booster_ubj_b64": base64.b64encode(raw).decode("ascii"),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body) + "\n")

    @classmethod
    def load(cls, path: Path) -> LogModel:
        try:
            body = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise LogModelError(f"cannot read the model file {path}: {exc}") from exc
        if not isinstance(body, dict) or body.get("kind") != "ssmas-log-model":
            raise LogModelError(f"{path} is not a model `ssmas pricing train --save` wrote")
        booster = xgb.Booster()
        booster.load_model(bytearray(base64.b64decode(body["booster_ubj_b64"])))
        return cls(
            features=list(body["features"]),
            vocab={k: list(v) for k, v in body["vocab"].items()},
            booster=booster,
            train_mean=float(body["train_mean"]),
            exchange_means={k: float(v) for k, v in body["exchange_means"].items()},
            train_rows=int(body["train_rows"]),
            absent=list(body.get("absent", [])),
        )


def fit_log_model(
    table: pa.Table, *, rounds: int = ROUNDS, seed: int = 0, threads: int = 1
) -> LogModel:
    """XGBoost on the features ``table``'s labelled rows fill; baselines from the same rows."""
    rows = labelled(table)
    if rows.num_rows < 2:
        raise LogModelError(f"{rows.num_rows} priced rows to train on: need at least 2")
    y = rows.column(TARGET).cast(pa.float64()).to_numpy()
    features = present_features(rows)
    vocab: dict[str, list[str]] = {}
    for name in features:
        if name in CATEGORICAL:
            counts = pc.value_counts(rows.column(name).drop_null()).to_pylist()
            counts.sort(key=lambda c: (-c["counts"], str(c["values"])))
            vocab[name] = [str(c["values"]) for c in counts[:MAX_VOCAB]]
    keys = _exchange_key(rows)
    sums: dict[str, list[float]] = {}
    for key, value in zip(keys, y.tolist(), strict=True):
        sums.setdefault(key, []).append(value)
    model = LogModel(
        features=features,
        vocab=vocab,
        booster=xgb.Booster(),
        train_mean=float(y.mean()),
        exchange_means={k: float(np.mean(v)) for k, v in sums.items()},
        train_rows=rows.num_rows,
        absent=[c for c in CANDIDATES if c not in features],
    )
    if features:
        dtrain = xgb.DMatrix(model.matrix(rows), label=y, feature_names=features)
        params = {**PARAMS, "seed": seed, "nthread": threads}
        model.booster = xgb.train(params, dtrain, num_boost_round=rounds)
        model.booster.feature_names = None
    return model


def evaluate_log_model(model: LogModel, table: pa.Table) -> dict[str, float]:
    """RMSE of the model and of both training baselines on ``table``'s labelled rows."""
    rows = labelled(table)
    if rows.num_rows == 0:
        raise LogModelError("no priced rows to evaluate on")
    y = rows.column(TARGET).cast(pa.float64()).to_numpy()

    def rmse(pred: npt.NDArray[np.float64]) -> float:
        return float(np.sqrt(np.mean((y - pred) ** 2)))

    ours = rmse(model.predict(rows))
    mean = rmse(np.full(len(y), model.train_mean))
    per_exchange = rmse(model.exchange_baseline(rows))
    return {
        "rmse": ours,
        "rmse_mean_baseline": mean,
        "rmse_exchange_mean_baseline": per_exchange,
        "rmse_ratio_vs_mean": ours / mean if mean > 0 else float("nan"),
        "rmse_ratio_vs_exchange_mean": ours / per_exchange if per_exchange > 0 else float("nan"),
        "test_rows": float(len(y)),
        "train_rows": float(model.train_rows),
    }


def split_by_order(table: pa.Table, train_share: float = 0.8) -> tuple[pa.Table, pa.Table]:
    """First ``train_share`` of the rows (in source order) to train, the rest to test."""
    ordered = table.sort_by("source_row") if "source_row" in table.column_names else table
    cut = int(train_share * ordered.num_rows)
    return ordered.slice(0, cut), ordered.slice(cut)
