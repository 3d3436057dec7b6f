"""The imported-log price model: trains on the features the log fills, names the absent ones,
never learns from the click, beats both baselines where there is signal, survives a save."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from ssmas.pricing.model.log_model import (
    LogModel,
    LogModelError,
    evaluate_log_model,
    fit_log_model,
    split_by_order,
)


def log_table(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    exchange = rng.integers(1, 4, n)
    ctr = rng.uniform(0.0001, 0.002, n)
    price = 30 + 10 * exchange + 20000 * ctr + rng.normal(0, 5, n)
    return pa.table({
        "ad_exchange": pa.array([str(e) for e in exchange]),
        "historical_ctr_avg": pa.array(ctr, pa.float32()),
        "device_category": pa.array([None] * n, pa.string()),
        "clicked": pa.array(price > 60),  # an outcome that tracks the price
        "clearing_cpm": pa.array(price, pa.float32()),
        "filled": pa.array([True] * n),
        "source_row": pa.array(np.arange(n)),
    })  # fmt: skip


def test_model_uses_the_filled_request_features_only_and_beats_both_baselines() -> None:
    train, test = split_by_order(log_table(5000))
    assert train.num_rows == 4000 and test.column("source_row")[0].as_py() == 4000
    model = fit_log_model(train, rounds=100)
    assert model.features == ["historical_ctr_avg", "ad_exchange"]
    assert "device_category" in model.absent and "clicked" not in model.features
    m = evaluate_log_model(model, test)
    assert m["rmse_ratio_vs_exchange_mean"] < 0.6 and m["rmse_ratio_vs_mean"] < 0.4
    assert m["rmse_exchange_mean_baseline"] < m["rmse_mean_baseline"]
    assert m["test_rows"] == 1000 and m["train_rows"] == 4000


def test_unknown_exchange_gets_the_training_mean_and_unfilled_rows_are_not_scored() -> None:
    model = fit_log_model(log_table(2000), rounds=20)
    rows = pa.table({
        "ad_exchange": ["9", "1"], "historical_ctr_avg": pa.array([0.001, 0.001], pa.float32()),
        "clearing_cpm": pa.array([50.0, None], pa.float32()), "filled": [True, False],
    })  # fmt: skip
    assert model.exchange_baseline(rows)[0] == pytest.approx(model.train_mean)
    assert evaluate_log_model(model, rows)["test_rows"] == 1


def test_saved_model_predicts_the_same(tmp_path: Path) -> None:
    table = log_table(3000)
    model = fit_log_model(table, rounds=30)
    model.save(tmp_path / "m.json")
    back = LogModel.load(tmp_path / "m.json")
    np.testing.assert_allclose(back.predict(table), model.predict(table), rtol=1e-6)
    assert back.exchange_means == model.exchange_means and back.absent == model.absent
    (tmp_path / "x.json").write_text('{"kind": "other"}')
    with pytest.raises(LogModelError, match="not a model"):
        LogModel.load(tmp_path / "x.json")


def test_no_priced_rows_is_an_error_and_no_features_predicts_the_mean() -> None:
    empty = log_table(10).slice(0, 0)
    with pytest.raises(LogModelError, match="priced rows"):
        fit_log_model(empty)
    bare = pa.table({"clearing_cpm": pa.array([10.0, 30.0], pa.float32()), "filled": [True] * 2})
    model = fit_log_model(bare)
    assert model.features == [] and model.predict(bare).tolist() == [20.0, 20.0]
