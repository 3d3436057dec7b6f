"""Scale-out on Dask: the same training with ``xgboost.dask`` and batch scoring of Parquet files.

The lake is read with ``dask.dataframe`` partition by partition (one hour file each), encoded
by the very :class:`FeatureEncoder` serving uses, and trained on a ``DaskQuantileDMatrix``; no
worker ever holds more than its partitions. The feature schema is fitted in the driver from a
DuckDB sample (as in :mod:`ssmas.pricing.model.training`), the split is the same time split.
Needs the ``dask`` extra (``pip install 'ssmas[dask]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ssmas.exchange import LAKE_IMPRESSIONS, lake_day_dir
from ssmas.pricing.model.bundle import (
    DEFAULT_PARAMS,
    TARGET,
    PricingModel,
    calibrate,
    request_view,
    spread_of,
)
from ssmas.pricing.model.dataset import BLOCK_SPLIT, LakeReader, Split
from ssmas.pricing.model.evaluation import ErrorAccumulator
from ssmas.pricing.model.intervals import ConformalInterval
from ssmas.pricing.model.training import LABELLED_COLUMNS, fit_schema_from_lake, register

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

    from ssmas.core.registry import ModelRegistry, ModelVersionInfo

_BLOCK_MINUTES = {"train": (0, 39), "calibration": (40, 49), "test": (50, 59)}
_ = BLOCK_SPLIT  # the SQL twin of _BLOCK_MINUTES; keep the two in step


class DaskUnavailable(RuntimeError):
    """The ``dask`` extra is not installed."""


def _imports() -> tuple[Any, Any, Any]:
    try:
        import dask.dataframe as dd
        import xgboost.dask as dxgb
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DaskUnavailable("install the dask extra: pip install 'ssmas[dask]'") from exc
    return dd, dxgb, Client


def local_cluster(
    n_workers: int = 2, *, threads_per_worker: int = 1, processes: bool = False
) -> tuple[LocalCluster, Client]:
    """A local Dask cluster and a client on it (close both when done)."""
    _, _, client_cls = _imports()
    from distributed import LocalCluster

    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=processes,
        dashboard_address=None,
    )
    return cluster, client_cls(cluster)


def split_mask(frame: pd.DataFrame, split: Split, kind: str, days: Sequence[date]) -> pd.Series:
    """Rows of ``frame`` in ``split``: the pandas twin of :func:`dataset.plan_splits`."""
    ts = frame["ts"]
    if kind == "days":
        day = ts.dt.date
        ordered = sorted(days)
        chosen = {"train": ordered[:-2], "calibration": ordered[-2:-1], "test": ordered[-1:]}
        mask: pd.Series = day.isin(set(chosen[split]))
        return mask
    lo, hi = _BLOCK_MINUTES[split]
    minute = ts.dt.minute
    inside: pd.Series = (minute >= lo) & (minute <= hi)
    return inside


def lake_files(lake: Path, days: Sequence[date]) -> list[str]:
    """The raw impression files of ``days``."""
    return [
        str(p)
        for d in days
        for p in sorted(lake_day_dir(lake, LAKE_IMPRESSIONS, d).glob("hour=*/*.parquet"))
    ]


@dataclass
class DaskTrainResult:
    """A model trained on the cluster and its held-out metrics."""

    model: PricingModel
    metrics: dict[str, float]
    info: ModelVersionInfo | None = None
    alias: str | None = None


SCHEDULER_TIMEOUT_S = 10


@contextmanager
def dask_client(scheduler: str | None = None, *, workers: int = 2) -> Iterator[Client]:
    """A client on the Dask scheduler at ``scheduler`` (e.g. ``tcp://10.0.0.5:8786``), or on a
    local cluster of ``workers`` in-process workers started (and closed) for the block.

    An unreachable scheduler raises :class:`OSError` after :data:`SCHEDULER_TIMEOUT_S`.
    """
    _, _, client_cls = _imports()
    if scheduler is not None:
        client = client_cls(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        try:
            yield client
        finally:
            client.close()
        return
    cluster, client = local_cluster(workers, threads_per_worker=1, processes=False)
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]
        cluster.close()  # type: ignore[no-untyped-call]


def train_and_register_on_dask(
    lake: Path,
    start: date,
    end: date,
    *,
    registry: ModelRegistry | None,
    scheduler: str | None = None,
    workers: int = 2,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> DaskTrainResult:
    """:func:`train_on_dask` on ``scheduler`` (or a local cluster), then registered like any
    model (:func:`~ssmas.pricing.model.training.register`: champion first, then challenger),
    tagged ``engine=dask``."""
    say = progress or (lambda _msg: None)
    where = scheduler or f"a local cluster of {workers} workers"
    say(f"connecting to {where}")
    with dask_client(scheduler, workers=workers) as client:
        say(f"training XGBoost on {where}")
        result = train_on_dask(client, lake, start, end, params=params, seed=seed)
    if registry is not None:
        say("registering the model")
        tags = {
            "lake": str(lake),
            "from": start.isoformat(),
            "to": end.isoformat(),
            "engine": "dask",
        }
        merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
        result.info, result.alias = register(registry, result.model, tags=tags, params=merged)
    return result


def _encoded(
    model_encoder: Any, names: list[str], split: Split, kind: str, days: list[date]
) -> Any:
    def encode(part: pd.DataFrame) -> pd.DataFrame:
        part = part[(part["status"] == "ok") & part["filled"]]
        part = part[split_mask(part, split, kind, days)]
        x = model_encoder.encode_frame(request_view(part.drop(columns=["status", "filled"])))
        out = pd.DataFrame(np.ascontiguousarray(x), columns=names, index=part.index)
        out[TARGET] = part[TARGET].to_numpy(dtype=np.float32)
        return out

    return encode


def train_on_dask(
    client: Client,
    lake: Path,
    start: date,
    end: date,
    *,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    schema_rows: int = 1_000_000,
) -> DaskTrainResult:
    """Train, calibrate and evaluate like :func:`training.train_from_lake`, on the cluster."""
    dd, dxgb, _ = _imports()
    reader = LakeReader(lake, start, end)
    try:
        schema = fit_schema_from_lake(reader, sample_rows=schema_rows, seed=seed)
        kind, days = reader.split_kind, list(reader.days)
    finally:
        reader.close()
    model = PricingModel(_empty_booster(), schema, ConformalInterval(0.8))
    names = list(schema.feature_names)
    columns = [*LABELLED_COLUMNS, "status", "filled"]
    raw = dd.read_parquet(lake_files(lake, days), columns=columns)
    meta = pd.DataFrame({**{n: np.float32() for n in names}, TARGET: np.float32()}, index=[])

    def frame(split: Split) -> Any:
        return raw.map_partitions(_encoded(model.encoder, names, split, kind, days), meta=meta)

    merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    rounds = int(merged.pop("num_boost_round"))
    merged.pop("nthread", None)
    train = frame("train")
    dtrain = dxgb.DaskQuantileDMatrix(
        client, train[names], train[TARGET], max_bin=int(merged.get("max_bin", 256))
    )
    output = dxgb.train(client, merged, dtrain, num_boost_round=rounds, verbose_eval=False)
    model.booster = output["booster"]
    model.set_threads(1)

    def predicted(split: Split) -> tuple[np.ndarray, np.ndarray]:
        booster = model.booster

        def pairs(part: pd.DataFrame) -> pd.DataFrame:
            x = np.ascontiguousarray(part[names].to_numpy(dtype=np.float32))
            pred = booster.inplace_predict(x, validate_features=False) if len(part) else []
            return pd.DataFrame({"y": part[TARGET].to_numpy(), "p": np.asarray(pred)})

        both = frame(split).map_partitions(pairs, meta={"y": np.float32, "p": np.float32})
        out = client.compute(both, sync=True)  # type: ignore[no-untyped-call]
        return out["y"].to_numpy(np.float64), np.maximum(out["p"].to_numpy(np.float64), 0.0)

    y_cal, p_cal = predicted("calibration")
    model.intervals = calibrate(p_cal, y_cal)
    y_test, p_test = predicted("test")
    lower, upper = model.intervals.predict_interval(p_test, spread=spread_of(p_test))
    acc = ErrorAccumulator()
    acc.update(y_test, p_test, lower, upper)
    metrics = acc.metrics("test_")
    metrics["interval80_coverage"] = metrics.pop("test_interval80_coverage")
    metrics["train_rows"] = float(schema.training_rows)
    model.metrics = metrics
    return DaskTrainResult(model, metrics)


def _empty_booster() -> Any:
    import xgboost as xgb

    return xgb.Booster()


def score_parquet(
    client: Client, model: PricingModel, inputs: Sequence[str | Path], out_dir: Path
) -> int:
    """Score every impression of ``inputs`` on the cluster into Parquet under ``out_dir``.

    Output columns: ``impression_id``, ``predicted_cpm``, ``lower80``, ``upper80``,
    ``model_version``; returns the number of rows written.
    """
    dd, _, _ = _imports()
    columns = ["impression_id", *[c for c in LABELLED_COLUMNS if c not in (TARGET, "ts")]]
    raw = dd.read_parquet([str(p) for p in inputs], columns=columns)
    meta = pd.DataFrame(
        {
            "impression_id": pd.Series([], dtype=object),
            "predicted_cpm": np.float32(),
            "lower80": np.float32(),
            "upper80": np.float32(),
            "model_version": pd.Series([], dtype=object),
        },
        index=[],
    )

    def score(part: pd.DataFrame, bundle: PricingModel) -> pd.DataFrame:
        point, lower, upper = bundle.predict_frame(part)
        return pd.DataFrame(
            {
                "impression_id": part["impression_id"].astype(str).to_numpy(),
                "predicted_cpm": point.astype(np.float32),
                "lower80": lower.astype(np.float32),
                "upper80": upper.astype(np.float32),
                "model_version": bundle.version,
            },
            index=part.index,
        )

    scored = raw.map_partitions(score, model, meta=meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    writes = scored.to_parquet(str(out_dir), write_index=False, compute=False)
    client.compute(writes, sync=True)  # type: ignore[no-untyped-call]
    import pyarrow.dataset as ds

    return int(ds.dataset(str(out_dir), format="parquet").count_rows())
