"""Training and batch scoring on a real local Dask cluster (two in-process workers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.dataset as ds
import pytest

from ssmas.pricing.model.distributed import lake_files, local_cluster, score_parquet, train_on_dask
from ssmas.pricing.model.training import train_from_lake

from .pricing_support import START, clean_lake

pytestmark = pytest.mark.slow
END = START + timedelta(days=2)
PARAMS = {"num_boost_round": 30}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clean_lake(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster, client = local_cluster(2, threads_per_worker=1, processes=False)
    assert len(client.scheduler_info()["workers"]) == 2
    yield client
    client.close()
    cluster.close()


def test_dask_training_matches_the_single_process_pipeline(lake: Path, client: Any) -> None:
    result = train_on_dask(client, lake, START, END, params=PARAMS)
    local = train_from_lake(lake, START, END, params=PARAMS)
    m = result.metrics
    assert m["test_rows"] == local.metrics["test_rows"]
    assert m["train_rows"] == local.metrics["train_rows"]
    # Same data and parameters; the distributed sketch may cut bins slightly differently.
    assert m["test_rmse"] == pytest.approx(local.metrics["test_rmse"], rel=0.05)
    assert m["test_rmse"] < local.metrics["baseline_mean_rmse"]
    assert 0.7 <= m["interval80_coverage"] <= 0.9


def test_batch_scoring_writes_one_row_per_impression(
    lake: Path, client: Any, tmp_path: Path
) -> None:
    model = train_from_lake(lake, START, END, params=PARAMS).model
    model.version = "7"
    files = lake_files(lake, [END])
    n = score_parquet(client, model, files, tmp_path / "scored")
    scored = ds.dataset(str(tmp_path / "scored"), format="parquet").to_table()
    source = ds.dataset(files, format="parquet").to_table()
    assert n == scored.num_rows == source.num_rows
    assert set(scored.column("model_version").to_pylist()) == {"7"}
    by_id = dict(
        zip(
            scored.column("impression_id").to_pylist(),
            scored.column("predicted_cpm").to_numpy(),
            strict=True,
        )
    )
    head = source.slice(0, 200)
    direct = model.predict_frame(head)[0]
    mapped = np.array([by_id[i] for i in head.column("impression_id").to_pylist()])
    np.testing.assert_allclose(mapped, direct, rtol=1e-5)
    lower = scored.column("lower80").to_numpy()
    upper = scored.column("upper80").to_numpy()
    assert np.all(lower <= scored.column("predicted_cpm").to_numpy())
    assert np.all(scored.column("predicted_cpm").to_numpy() <= upper)
