"""The pricing model bundle: an XGBoost booster, its feature schema and its 80% interval.

:class:`PricingModel` is what serving loads once and scores with ``inplace_predict`` on float32
matrices (no DMatrix per request). :func:`train_model` fits one from lake rows: the target is the
clearing CPM of *filled* impressions (an unfilled impression has no price; see docs/pricing.md)
and the outcome columns the exchange writes beside the request (``bidder`` and
``demand_channel`` are the auction's winner) are never features. The registry stores the
booster with a JSON that holds the feature schema and the interval calibration, so
:func:`load_from_registry` needs nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb

from ssmas.core.registry import ModelNotFound, ModelRegistry, ModelVersionInfo
from ssmas.pricing.model.evaluation import regression_metrics
from ssmas.pricing.model.features import FeatureEncoder, FeatureSchema, fit_feature_schema
from ssmas.pricing.model.frame_columns import FeatureError, FrameLike
from ssmas.pricing.model.intervals import ConformalInterval
from ssmas.pricing.schemas import PredictRequest

MODEL_NAME = "pricing-cpm"
BUNDLE_FORMAT = 1
TARGET = "clearing_cpm"
# Written by the exchange next to the request but decided by the auction: never features.
OUTCOME_COLUMNS: tuple[str, ...] = ("bidder", "demand_channel")
MIN_SPREAD = 0.05  # EUR CPM: interval widths scale with the prediction, never below this
DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "reg:squarederror",
    "tree_method": "hist",
    "max_depth": 6,
    "eta": 0.3,
    "min_child_weight": 20.0,
    "subsample": 0.8,
    "max_bin": 128,
    "nthread": 1,
    "num_boost_round": 60,
}
FloatArray = npt.NDArray[np.float64]
Prediction = tuple[FloatArray, FloatArray, FloatArray]


class ModelBundleError(ValueError):
    """A registered version is not a usable pricing model (wrong format, missing parts)."""


@dataclass
class PricingModel:
    """A booster with everything needed to score requests or lake rows the way it was trained."""

    booster: xgb.Booster
    schema: FeatureSchema
    intervals: ConformalInterval
    version: str = "unregistered"
    metrics: dict[str, float] = field(default_factory=dict)
    encoder: FeatureEncoder = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.encoder = FeatureEncoder(self.schema)

    def set_threads(self, nthread: int) -> None:
        """Threads XGBoost uses per prediction call (1 suits a request-per-call server)."""
        self.booster.set_param({"nthread": max(1, int(nthread))})

    def predict_point(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Point predictions (EUR CPM) of a float32 feature matrix, never below zero."""
        out = np.asarray(self.booster.inplace_predict(x, validate_features=False), np.float32)
        np.maximum(out, np.float32(0.0), out=out)
        return out

    def predict_matrix(self, x: npt.NDArray[np.float32]) -> Prediction:
        """Point, lower and upper 80% bound (EUR CPM) for each row of a feature matrix."""
        if x.ndim != 2 or x.shape[1] != self.encoder.n_features:
            raise FeatureError(
                f"expected a (rows, {self.encoder.n_features}) matrix, got {x.shape}"
            )
        if x.shape[0] == 0:
            empty = np.empty(0)
            return empty, empty, empty
        point = self.predict_point(x).astype(np.float64)
        lower, upper = self.intervals.predict_interval(point, spread=spread_of(point))
        return point, lower, upper

    def predict_requests(self, reqs: Sequence[PredictRequest]) -> Prediction:
        """Point, lower and upper bound for validated requests, in their order."""
        return self.predict_matrix(self.encoder.encode_requests(reqs))

    def predict_frame(self, frame: FrameLike) -> Prediction:
        """Point, lower and upper bound for lake rows (outcome columns are ignored)."""
        return self.predict_matrix(self.encoder.encode_frame(request_view(frame)))


def spread_of(point: npt.ArrayLike) -> FloatArray:
    """Scale of a prediction's interval: prices are multiplicative, so errors grow with them."""
    return np.maximum(np.asarray(point, dtype=np.float64), MIN_SPREAD)


def request_view(frame: FrameLike) -> FrameLike:
    """The frame without the auction's outcome columns (what was known before the auction)."""
    if isinstance(frame, pa.Table):
        return frame.drop_columns([c for c in OUTCOME_COLUMNS if c in frame.column_names])
    if hasattr(frame, "drop") and hasattr(frame, "columns"):
        return frame.drop(columns=[c for c in OUTCOME_COLUMNS if c in frame.columns])
    return {k: v for k, v in frame.items() if k not in OUTCOME_COLUMNS}


def training_rows(frame: FrameLike) -> pa.Table:
    """Filled impressions in time order, as a pyarrow table with a finite clearing price."""
    table = frame if isinstance(frame, pa.Table) else pa.table(frame)
    if TARGET not in table.column_names:
        raise FeatureError(f"missing required column: {TARGET}")
    mask = pc.is_finite(table.column(TARGET).cast(pa.float64()))
    if "filled" in table.column_names:
        mask = pc.and_(mask, table.column("filled"))
    table = table.filter(mask)
    if "ts" in table.column_names:
        table = table.take(pc.sort_indices(table, [("ts", "ascending")]))
    return table


def fit_booster(
    x: npt.NDArray[np.float32],
    y: npt.ArrayLike,
    schema: FeatureSchema,
    params: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
) -> xgb.Booster:
    """Gradient-boosted trees (hist) on the feature matrix.

    Category codes are split as ordered numbers: with at most four values per category a tree
    isolates any subset in a few splits, and training runs several times faster than with
    native categorical splits. One thread by default: on a busy two-core machine OpenMP's
    spinning threads make ``nthread=2`` slower, not faster.
    """
    merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    rounds = int(merged.pop("num_boost_round"))
    dtrain = xgb.DMatrix(
        x,
        label=np.asarray(y, dtype=np.float32),
        feature_names=list(schema.feature_names),
        nthread=int(merged.get("nthread", 1)),
    )
    return xgb.train(merged, dtrain, num_boost_round=rounds)


def calibrate(point: npt.ArrayLike, y: npt.ArrayLike) -> ConformalInterval:
    """Split-conformal 80% interval on relative residuals (one tail each side: skewed prices)."""
    p = np.asarray(point, dtype=np.float64)
    return ConformalInterval(0.8, method="signed").fit(y, p, spread=spread_of(p))


def train_model(
    frame: FrameLike,
    *,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    valid_frac: float = 0.2,
) -> tuple[PricingModel, dict[str, float]]:
    """Train on the oldest ``1 - valid_frac`` of filled rows, calibrate and score on the rest."""
    if not 0.0 < valid_frac < 1.0:
        raise ValueError(f"valid_frac must be strictly between 0 and 1, got {valid_frac}")
    rows = training_rows(frame)
    n = rows.num_rows
    cut = round(n * (1.0 - valid_frac))
    if cut < 100 or n - cut < 50:
        raise FeatureError(f"too few filled impressions to train and calibrate: {n}")
    train, valid = rows.slice(0, cut), rows.slice(cut)
    y_train = train.column(TARGET).to_numpy().astype(np.float64)
    y_valid = valid.column(TARGET).to_numpy().astype(np.float64)
    schema = fit_feature_schema(request_view(train), y_train, impute="median", seed=seed)
    encoder = FeatureEncoder(schema)
    booster = fit_booster(
        encoder.encode_frame(request_view(train)), y_train, schema, params, seed=seed
    )
    model = PricingModel(booster, schema, ConformalInterval(0.8))
    point = model.predict_point(encoder.encode_frame(request_view(valid))).astype(np.float64)
    model.intervals = calibrate(point, y_valid)
    metrics = {f"valid_{k}": v for k, v in regression_metrics(y_valid, point).items()}
    metrics["train_rows"] = float(cut)
    metrics["valid_rows"] = float(n - cut)
    model.metrics = metrics
    return model, metrics


# -- registry ---------------------------------------------------------------------------------


def interval_to_dict(interval: ConformalInterval) -> dict[str, Any]:
    """The fitted state of an interval as plain JSON values."""
    if not hasattr(interval, "bounds_"):
        raise ModelBundleError("the interval of a model must be fitted before it is saved")
    return {
        "coverage": interval.coverage,
        "method": interval.method,
        "min_spread": interval.min_spread,
        "min_group_size": interval.min_group_size,
        "clip_lower": interval.clip_lower,
        "normalized": interval.normalized_,
        "n_calibration": interval.n_calibration_,
        "bounds": list(interval.bounds_),
        "group_bounds": {k: list(v) for k, v in interval.group_bounds_.items()},
    }


def interval_from_dict(data: Mapping[str, Any]) -> ConformalInterval:
    """Inverse of :func:`interval_to_dict`."""
    try:
        interval = ConformalInterval(
            float(data["coverage"]),
            method=data["method"],
            min_spread=float(data["min_spread"]),
            min_group_size=int(data["min_group_size"]),
            clip_lower=None if data["clip_lower"] is None else float(data["clip_lower"]),
        )
        interval.normalized_ = bool(data["normalized"])
        interval.n_calibration_ = int(data["n_calibration"])
        low, high = data["bounds"]
        interval.bounds_ = (float(low), float(high))
        interval.group_bounds_ = {
            str(k): (float(v[0]), float(v[1])) for k, v in data["group_bounds"].items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelBundleError(f"interval calibration is malformed: {exc}") from exc
    return interval


def bundle_dict(model: PricingModel) -> dict[str, Any]:
    """The JSON stored beside the booster: feature list (for MLflow), schema, interval."""
    return {
        "version": model.schema.version,
        "bundle_format": BUNDLE_FORMAT,
        "features": [{"name": name, "type": "float32"} for name in model.schema.feature_names],
        "feature_schema": model.schema.model_dump(mode="json"),
        "intervals": interval_to_dict(model.intervals),
        "target": TARGET,
    }


def save_to_registry(
    registry: ModelRegistry,
    model: PricingModel,
    *,
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    name: str = MODEL_NAME,
) -> ModelVersionInfo:
    """Log and register ``model``; its ``version`` becomes the registry's version number."""
    info = registry.log_model(
        name,
        model.booster,
        flavor="xgboost",
        feature_schema=bundle_dict(model),
        metrics={k: float(v) for k, v in model.metrics.items() if math.isfinite(float(v))},
        params=dict(params or {}),
        tags=dict(tags or {}),
    )
    model.version = str(info.version)
    return info


def resolve_version(
    registry: ModelRegistry, alias_or_version: str = "champion", *, name: str = MODEL_NAME
) -> ModelVersionInfo:
    """The registered version behind a number, an alias or ``"latest"``."""
    ref = str(alias_or_version).strip()
    if ref.isdigit():
        return registry.get_version(name, ref)  # one lookup, not a listing of every version
    if ref == "latest":
        versions = registry.list_versions(name)
        if versions:
            return versions[-1]
    else:
        info = registry.get_version_by_alias(name, ref)
        if info is not None:
            return info
    raise ModelNotFound(f"model {name!r} has no version {ref!r}")


def load_from_registry(
    registry: ModelRegistry, alias_or_version: str = "champion", *, name: str = MODEL_NAME
) -> PricingModel:
    """The bundle of a registered version (number, alias or ``"latest"``)."""
    info = resolve_version(registry, alias_or_version, name=name)
    version = str(info.version)
    booster = registry.load(name, version)
    data = registry.load_feature_schema(name, version)
    if data.get("bundle_format") != BUNDLE_FORMAT or "feature_schema" not in data:
        raise ModelBundleError(f"{name} v{version} is not a pricing model bundle")
    if isinstance(booster, xgb.XGBModel):
        booster = booster.get_booster()
    if not isinstance(booster, xgb.Booster):
        raise ModelBundleError(f"{name} v{version} does not hold an XGBoost booster")
    return PricingModel(
        booster=booster,
        schema=FeatureSchema.model_validate(data["feature_schema"]),
        intervals=interval_from_dict(data["intervals"]),
        version=version,
        metrics=dict(info.metrics),
    )
