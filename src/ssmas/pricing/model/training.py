"""Training from the lake: features → XGBoost (hist) → conformal interval → evaluation → registry.

Everything streams through DuckDB record batches, so a 50M-row day never sits in memory as
rows: the feature schema is fitted on a seeded sample (domain statistics exactly, by SQL), the
booster trains on a ``QuantileDMatrix`` built batch by batch (one byte per feature and row),
and calibration and test predictions are made batch by batch. The first registered model
becomes the champion; later ones are registered as the challenger.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import xgboost as xgb

from ssmas.core.registry import CHALLENGER, CHAMPION, ModelRegistry, ModelVersionInfo
from ssmas.pricing.lifecycle.drift import build_baseline
from ssmas.pricing.model.bundle import (
    DEFAULT_PARAMS,
    MODEL_NAME,
    TARGET,
    PricingModel,
    calibrate,
    save_to_registry,
)
from ssmas.pricing.model.dataset import REQUEST_COLUMNS, LakeReader, Split, SplitKind
from ssmas.pricing.model.evaluation import ErrorAccumulator, baseline_metrics, best_segment
from ssmas.pricing.model.features import (
    FEATURE_NAMES,
    FeatureEncoder,
    FeatureSchema,
    TargetEncoding,
    fit_feature_schema,
    normalise_domain,
)
from ssmas.pricing.model.frame_columns import FeatureError
from ssmas.pricing.model.intervals import ConformalInterval

Progress = Callable[[str], None]
FEATURE_COLUMNS: tuple[str, ...] = tuple(c for c in REQUEST_COLUMNS if c != "impression_id")
LABELLED_COLUMNS: tuple[str, ...] = (*FEATURE_COLUMNS, TARGET)


@dataclass
class TrainResult:
    """A trained (and possibly registered) model with its held-out evaluation."""

    model: PricingModel
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    days: list[date]
    split_kind: str
    info: ModelVersionInfo | None = None
    alias: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


class _BatchIter(xgb.DataIter):
    """Feeds XGBoost's QuantileDMatrix one encoded lake batch at a time (two passes)."""

    def __init__(
        self,
        make: Callable[[], Iterator[tuple[npt.NDArray[np.float32], Any]]],
        feature_names: list[str],
    ) -> None:
        self._make = make
        self._names = feature_names
        self._it: Iterator[tuple[npt.NDArray[np.float32], Any]] | None = None
        super().__init__(release_data=True)

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._it is None:
            self._it = self._make()
        try:
            x, y = next(self._it)
        except StopIteration:
            return False
        input_data(data=x, label=y, feature_names=self._names)
        return True

    def reset(self) -> None:
        self._it = None


def encoded_batches(
    reader: LakeReader, encoder: FeatureEncoder, split: Split, batch_rows: int
) -> Iterator[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
    """(features, clearing CPM) of the filled rows of ``split``, batch by batch."""
    for batch in reader.batches(split, LABELLED_COLUMNS, filled_only=True, batch_rows=batch_rows):
        table = pa.Table.from_batches([batch])
        y = table.column(TARGET).to_numpy().astype(np.float32)
        yield np.ascontiguousarray(encoder.encode_frame(table)), y


def fit_schema_from_lake(
    reader: LakeReader, *, sample_rows: int = 1_000_000, seed: int = 0
) -> FeatureSchema:
    """Feature schema from a sample of training rows, with exact per-domain statistics."""
    total = reader.count("train", filled_only=True)
    if total < 100:
        raise FeatureError(f"too few filled training impressions in the lake: {total}")
    sample = reader.sample("train", sample_rows, LABELLED_COLUMNS, filled_only=True, seed=seed)
    y = sample.column(TARGET).to_numpy().astype(np.float64)
    schema = fit_feature_schema(sample, y, impute="median", seed=seed)
    if sample.num_rows >= total:
        return schema
    te = schema.domain_encoding
    rows = reader.con.execute(
        "SELECT domain, COUNT(*) AS n, SUM(clearing_cpm) AS s FROM impressions "
        f"WHERE {reader.where('train', filled_only=True)} AND domain IS NOT NULL "
        "GROUP BY domain ORDER BY n DESC LIMIT 100000"
    ).fetchall()
    prior = float(sum(s for _, _, s in rows) / max(sum(n for _, n, _ in rows), 1))
    values: dict[str, float] = {}
    counts: dict[str, int] = {}
    for domain, n, s in rows:
        key = normalise_domain(str(domain))
        counts[key] = counts.get(key, 0) + int(n)
        values[key] = values.get(key, 0.0) + float(s)
    exact = TargetEncoding(
        prior=prior,
        smoothing=te.smoothing,
        values={k: (values[k] + te.smoothing * prior) / (counts[k] + te.smoothing) for k in counts},
        counts=counts,
    )
    patched = schema.model_copy(update={"domain_encoding": exact, "training_rows": total})
    matrix = FeatureEncoder(patched).encode_frame(sample)
    kinds = patched.kinds()
    baselines = {n: build_baseline(matrix[:, j], kinds[n]) for j, n in enumerate(FEATURE_NAMES)}
    return patched.model_copy(update={"baselines": baselines})


def train_booster_from_lake(
    reader: LakeReader,
    schema: FeatureSchema,
    params: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    batch_rows: int = 500_000,
) -> xgb.Booster:
    """XGBoost on every filled training row, streamed into a QuantileDMatrix."""
    merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    rounds = int(merged.pop("num_boost_round"))
    encoder = FeatureEncoder(schema)
    data = xgb.QuantileDMatrix(
        _BatchIter(
            lambda: encoded_batches(reader, encoder, "train", batch_rows),
            list(schema.feature_names),
        ),
        max_bin=int(merged.get("max_bin", 256)),
        nthread=int(merged.get("nthread", 1)),
    )
    return xgb.train(merged, data, num_boost_round=rounds)


def predictions(
    model: PricingModel, reader: LakeReader, split: Split, *, batch_rows: int = 500_000
) -> Iterator[tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]]:
    """(outcome, point prediction) of the filled rows of ``split``, batch by batch."""
    for x, y in encoded_batches(reader, model.encoder, split, batch_rows):
        yield y, model.predict_point(x).astype(np.float64)


def calibrate_on_lake(
    model: PricingModel, reader: LakeReader, *, batch_rows: int = 500_000
) -> ConformalInterval:
    """Fit the model's 80% interval on the calibration split."""
    pairs = list(predictions(model, reader, "calibration", batch_rows=batch_rows))
    if not pairs:
        raise FeatureError("no filled impressions in the calibration split")
    y = np.concatenate([p[0] for p in pairs])
    point = np.concatenate([p[1] for p in pairs])
    return calibrate(point, y)


def evaluate_on_lake(
    model: PricingModel, reader: LakeReader, split: Split = "test", *, batch_rows: int = 500_000
) -> dict[str, float]:
    """RMSE, MAE, R² and 80% interval coverage of ``model`` on the filled rows of ``split``."""
    acc = ErrorAccumulator()
    for y, point in predictions(model, reader, split, batch_rows=batch_rows):
        lower, upper = model.intervals.predict_interval(point, spread=np.maximum(point, 0.05))
        acc.update(y, point, lower, upper)
    if acc.n == 0:
        raise FeatureError(f"no filled impressions in the {split} split")
    return acc.metrics()


def register(
    registry: ModelRegistry,
    model: PricingModel,
    *,
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    alias: str | None = None,
) -> tuple[ModelVersionInfo, str]:
    """Register ``model``; it becomes champion if there is none, challenger otherwise."""
    info = save_to_registry(registry, model, tags=tags, params=params)
    if alias is None:
        alias = CHALLENGER if registry.get_version_by_alias(MODEL_NAME, CHAMPION) else CHAMPION
    if alias == CHAMPION:
        info = registry.promote(MODEL_NAME, info.version)
    else:
        registry.set_alias(MODEL_NAME, alias, info.version)
        info = info.model_copy(update={"aliases": sorted({*info.aliases, alias})})
    return info, alias


def train_from_lake(
    lake: Path,
    start: date,
    end: date,
    *,
    registry: ModelRegistry | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    threads: int = 1,
    batch_rows: int = 500_000,
    schema_rows: int = 1_000_000,
    alias: str | None = None,
    tags: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    split: SplitKind = "auto",
    train_fraction: float = 1.0,
) -> TrainResult:
    """Train, calibrate and evaluate on ``[start, end]`` of the lake; register if given one."""
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    merged = {**DEFAULT_PARAMS, **(params or {}), "nthread": threads}
    reader = LakeReader(
        lake,
        start,
        end,
        threads=max(threads, 1),
        split=split,
        train_fraction=train_fraction,
        memory_limit="4GB",  # DuckDB spills to disk past this instead of growing the process
    )
    try:
        t0 = time.perf_counter()
        say(f"fitting the feature schema ({len(reader.days)} days, {reader.split_kind} split)")
        schema = fit_schema_from_lake(reader, sample_rows=schema_rows, seed=seed)
        timings["schema_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        say(f"training XGBoost on {schema.training_rows:,} filled impressions")
        booster = train_booster_from_lake(reader, schema, merged, seed=seed, batch_rows=batch_rows)
        timings["train_s"] = time.perf_counter() - t0
        model = PricingModel(booster, schema, ConformalInterval(0.8))
        model.set_threads(threads)
        t0 = time.perf_counter()
        say("calibrating the 80% interval")
        model.intervals = calibrate_on_lake(model, reader, batch_rows=batch_rows)
        say("evaluating on the held-out split")
        metrics = {f"test_{k}": v for k, v in evaluate_on_lake(model, reader).items()}
        metrics["interval80_coverage"] = metrics.pop("test_interval80_coverage")
        train_rel = reader.relation("train", filled_only=True)
        test_rel = reader.relation("test", filled_only=True)
        baselines = baseline_metrics(reader.con, train_rel, test_rel)
        timings["evaluate_s"] = time.perf_counter() - t0
        segment_name, segment = best_segment(baselines)
        metrics.update(
            {
                "train_rows": float(schema.training_rows),
                "calibration_rows": float(model.intervals.n_calibration_),
                "baseline_mean_rmse": baselines["global_mean"]["rmse"],
                "baseline_segment_rmse": segment["rmse"],
                "rmse_ratio_vs_mean": metrics["test_rmse"] / baselines["global_mean"]["rmse"],
                "rmse_ratio_vs_segment_baseline": metrics["test_rmse"] / segment["rmse"],
                **{k: v for k, v in timings.items()},
            }
        )
        model.metrics = metrics
        days = list(reader.days)
        result = TrainResult(model, metrics, baselines, days, reader.split_kind, timings=timings)
    finally:
        reader.close()
    if registry is not None:
        t0 = time.perf_counter()
        say("registering the model")
        all_tags = {
            "lake": str(lake),
            "from": start.isoformat(),
            "to": end.isoformat(),
            "split": result.split_kind,
            "segment_baseline": segment_name,
            **(tags or {}),
        }
        result.info, result.alias = register(
            registry, model, tags=all_tags, params=merged, alias=alias
        )
        result.timings["register_s"] = time.perf_counter() - t0
    return result
