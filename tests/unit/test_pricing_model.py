"""The pricing model bundle: training on simulated rows, leakage guard, scoring paths, intervals."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from ssmas.exchange import SimulationConfig, simulate_frame
from ssmas.pricing.model.bundle import (
    OUTCOME_COLUMNS,
    PricingModel,
    bundle_dict,
    interval_from_dict,
    interval_to_dict,
    request_view,
    train_model,
    training_rows,
)
from ssmas.pricing.model.evaluation import regression_metrics
from ssmas.pricing.model.frame_columns import FeatureError
from ssmas.pricing.model.intervals import ConformalInterval
from ssmas.pricing.schemas import PredictRequest


@pytest.fixture(scope="module")
def frame() -> pa.Table:
    """Six simulated hours (about 4,500 impressions)."""
    impressions, _ = simulate_frame(SimulationConfig(date(2026, 3, 2), 1, 18_000, seed=3), hours=6)
    return impressions


@pytest.fixture(scope="module")
def trained(frame: pa.Table) -> tuple[PricingModel, dict[str, float]]:
    return train_model(frame, params={"num_boost_round": 40}, valid_frac=0.3)


def test_training_rows_are_filled_and_time_ordered(frame: pa.Table) -> None:
    rows = training_rows(frame)
    assert 0 < rows.num_rows < frame.num_rows
    assert all(rows.column("filled").to_pylist())
    ts = rows.column("ts").cast(pa.int64()).to_numpy()
    assert np.all(np.diff(ts) >= 0)


def test_winner_columns_never_reach_the_model(
    frame: pa.Table, trained: tuple[PricingModel, dict[str, float]]
) -> None:
    model, _ = trained
    assert set(OUTCOME_COLUMNS) & set(frame.column_names)  # the lake does write them
    assert not set(OUTCOME_COLUMNS) & set(request_view(frame).column_names)
    assert model.schema.vocabularies.get("bidder") == []
    assert model.schema.vocabularies.get("demand_channel") == []
    x = model.encoder.encode_frame(request_view(frame))
    names = model.schema.feature_names
    assert np.isnan(x[:, names.index("bidder")]).all()
    # A winner column in the frame changes nothing: predict_frame drops it.
    scrambled = frame.set_column(
        frame.column_names.index("bidder"), "bidder", pa.array(["x"] * frame.num_rows)
    )
    np.testing.assert_array_equal(model.predict_frame(frame)[0], model.predict_frame(scrambled)[0])


def test_model_beats_the_mean_on_its_validation_rows(
    trained: tuple[PricingModel, dict[str, float]],
) -> None:
    _, metrics = trained
    assert metrics["valid_r2"] > 0.3
    assert metrics["train_rows"] > metrics["valid_rows"] > 0


def test_request_and_frame_paths_agree(
    frame: pa.Table, trained: tuple[PricingModel, dict[str, float]]
) -> None:
    model, _ = trained
    rows = frame.slice(0, 50).to_pylist()
    requests = [
        PredictRequest(
            impression_id=r["impression_id"],
            hour_of_day=r["hour_of_day"],
            day_of_week=r["day_of_week"],
            country_tier=r["country_tier"],
            device_category=r["device_category"],
            format=r["format"],
            inventory_type=r["inventory_type"],
            domain=r["domain"],
            user_engagement_score=float(np.float32(r["user_engagement_score"])),
            device_performance_score=float(np.float32(r["device_performance_score"])),
            historical_ctr_avg=float(np.float32(r["historical_ctr_avg"])),
        )
        for r in rows
    ]
    by_request = model.predict_requests(requests)
    by_frame = model.predict_frame(frame.slice(0, 50))
    for a, b in zip(by_request, by_frame, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    point, lower, upper = by_request
    assert np.all(lower <= point) and np.all(point <= upper) and np.all(lower >= 0)


def test_predict_matrix_checks_its_shape(trained: tuple[PricingModel, dict[str, float]]) -> None:
    model, _ = trained
    with pytest.raises(FeatureError, match="matrix"):
        model.predict_matrix(np.zeros((3, 5), dtype=np.float32))
    point, lower, upper = model.predict_matrix(np.zeros((0, 17), dtype=np.float32))
    assert point.size == lower.size == upper.size == 0


def test_interval_state_round_trips_through_json() -> None:
    rng = np.random.default_rng(0)
    pred = rng.uniform(0.5, 5.0, 500)
    y = pred * rng.lognormal(0.0, 0.4, 500)
    fitted = ConformalInterval(0.8, method="signed").fit(y, pred, spread=pred)
    again = interval_from_dict(json.loads(json.dumps(interval_to_dict(fitted))))
    for a, b in zip(
        fitted.predict_interval(pred, spread=pred),
        again.predict_interval(pred, spread=pred),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_bundle_names_every_feature(trained: tuple[PricingModel, dict[str, float]]) -> None:
    model, _ = trained
    bundle = json.loads(json.dumps(bundle_dict(model)))
    assert [f["name"] for f in bundle["features"]] == model.schema.feature_names
    assert bundle["intervals"]["method"] == "signed"
    assert bundle["feature_schema"]["version"] == model.schema.version


def test_too_little_data_is_a_clear_error(frame: pa.Table) -> None:
    with pytest.raises(FeatureError, match="too few"):
        train_model(frame.slice(0, 60))
    with pytest.raises(ValueError, match="valid_frac"):
        train_model(frame, valid_frac=1.0)


def test_regression_metrics_match_definitions() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.5, 2.0, 2.0, 4.0])
    m = regression_metrics(y, p)
    assert m["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 1 + 0) / 4))
    assert m["mae"] == pytest.approx(1.5 / 4)
    assert m["r2"] == pytest.approx(1 - 1.25 / 5.0)
