"""Serving parts: the tree walker against XGBoost, body errors, floors from served prices, feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from prometheus_client import CollectorRegistry, Histogram
from pydantic import TypeAdapter

from ssmas.pricing.floors.decisions import decide, decision_row, floor_body
from ssmas.pricing.floors.formula import PublisherFloorConfig
from ssmas.pricing.lifecycle.monitoring import encode_captured
from ssmas.pricing.schemas import BatchPredictRequest, FloorRequest, PredictRequest
from ssmas.pricing.serving.capture import sample_mask, sampled
from ssmas.pricing.serving.request_bodies import validate_object
from ssmas.pricing.serving.responses import Scored, capture_row
from ssmas.pricing.serving.row_scorer import TreeWalker, UnsupportedModel, build_row_scorer
from ssmas.pricing.serving.stats import observe_many
from ssmas.pricing.web import drift_feed
from tests.pricing_serving_support import request_body, small_model, synthetic_frame

BATCH = TypeAdapter(BatchPredictRequest)
ONE = TypeAdapter(PredictRequest)


def test_tree_walker_reproduces_xgboost_on_real_and_edge_rows() -> None:
    model = small_model()
    scorer = build_row_scorer(model)
    assert scorer is not None
    x = np.asarray(model.encoder.encode_frame(synthetic_frame(500, seed=3)))
    x[::7, 12] = np.nan  # missing domain statistics take each node's default branch
    x[::5, 14:] = np.nan
    expected = model.booster.inplace_predict(x, validate_features=False)
    got = np.array([scorer.walker.predict(row) for row in x])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    point, lower, upper = scorer.predict_row(x[0])
    m_point, m_lower, m_upper = model.predict_matrix(x[:1])
    assert (point[0], lower[0], upper[0]) == pytest.approx((m_point[0], m_lower[0], m_upper[0]))


def test_tree_walker_refuses_what_it_cannot_reproduce() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((200, 3)).astype(np.float32)
    logistic = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, label=x[:, 0] > 0.5), 3
    )
    with pytest.raises(UnsupportedModel):
        TreeWalker(logistic, 3)
    linear = xgb.train({"booster": "gblinear"}, xgb.DMatrix(x, label=x[:, 0]), 3)
    with pytest.raises(UnsupportedModel):
        TreeWalker(linear, 3)


def test_row_scorer_is_skipped_for_objects_without_a_booster() -> None:
    assert build_row_scorer(object()) is None


@pytest.mark.parametrize(
    ("data", "status", "fragment"),
    [
        (request_body(hour_of_day=24), 422, "hour_of_day must be between 0 and 23 (got 24)"),
        (request_body(day_of_week=0), 422, "day_of_week must be between 1 and 7 (got 0)"),
        (request_body(country_tier=4), 422, "country_tier must be between 1 and 3 (got 4)"),
        (request_body(device_category="tv"), 422, "device_category must be one of"),
        (request_body(hour_of_day=20.5), 422, "hour_of_day must be an integer"),
        (request_body(surprise=1), 422, "unknown field: surprise"),
        ([request_body()], 422, "request body must be a JSON object"),
        ("text", 422, "request body must be a JSON object"),
    ],
)
def test_single_request_problems_read_as_sentences(data: Any, status: int, fragment: str) -> None:
    from ssmas.pricing.serving.request_bodies import BodyRejected

    with pytest.raises(BodyRejected) as caught:
        validate_object(ONE, data, expected="a JSON object")
    assert caught.value.status == status
    assert fragment in caught.value.message


def test_batch_problems_name_the_row_and_the_limit() -> None:
    from ssmas.pricing.serving.request_bodies import BodyRejected

    with pytest.raises(BodyRejected) as too_many:
        validate_object(BATCH, [request_body(f"i{i}") for i in range(1001)], expected="an array")
    assert "batch size cannot exceed 1000" in too_many.value.message
    bad_row = [request_body("a"), request_body("b", country_tier=0)]
    with pytest.raises(BodyRejected) as row:
        validate_object(BATCH, bad_row, expected="an array")
    assert row.value.details[0].field == "[1].country_tier"
    with pytest.raises(BodyRejected) as many:
        validate_object(
            BATCH, [request_body(f"i{i}", hour_of_day=99) for i in range(8)], expected="an array"
        )
    assert "and 3 more problems" in many.value.message and len(many.value.details) == 8


def scored(point: float = 3.0, fallback: bool = False, history: int = 500) -> Scored:
    return Scored(point, point * 0.8, point * 1.2, "4", "champion", fallback, None, history)


def floor_request(**overrides: Any) -> FloorRequest:
    return FloorRequest.model_validate(request_body("f-1", publisher_id="pub", **overrides))


def test_floor_from_a_served_price_follows_the_seed_formula() -> None:
    request = floor_request(hour_of_day=20, inventory_type="premium")
    decision = decide(request, scored(3.0, history=500), PublisherFloorConfig())
    assert decision.reason == "dynamic"
    assert decision.floor == pytest.approx(round(3.0 * 0.85 * 1.10, 4))
    with_history = decide(floor_request(data_points=5000), scored(3.0), PublisherFloorConfig())
    assert with_history.confidence_factor == 0.95  # the request's own history wins


def test_floor_fallback_disabled_and_control() -> None:
    request = floor_request()
    fallback = decide(request, scored(fallback=True), PublisherFloorConfig(fallback_floor=1.3))
    assert (fallback.reason, fallback.floor) == ("fallback", 1.3)
    off = decide(request, scored(fallback=True), PublisherFloorConfig(enabled=False))
    assert (off.reason, off.floor) == ("disabled", None)
    control = decide(request, scored(fallback=True), PublisherFloorConfig(control_share=1.0))
    assert (control.reason, control.floor) == ("control", None)
    live_control = decide(request, scored(), PublisherFloorConfig(control_share=1.0))
    assert live_control.reason == "control"


def test_floor_body_and_log_row_carry_the_model_version() -> None:
    request, s = floor_request(), scored()
    decision = decide(request, s, PublisherFloorConfig())
    body = floor_body(request, s, decision, "T", 1.0)
    row = decision_row(request, s, decision, datetime(2026, 1, 1, tzinfo=UTC))
    assert body["model_version"] == row["model_version"] == "4"
    assert body["floor"] == row["floor"] and row["publisher_id"] == "pub"
    assert body["control"] is row["control"] is False


def test_capture_sample_is_sticky_and_near_its_share() -> None:
    ids = [f"imp-{i}" for i in range(5000)]
    mask = sample_mask(ids, 0.1)
    assert mask.tolist() == [sampled(i, 0.1) for i in ids]
    assert 0.08 < mask.mean() < 0.12
    assert not sample_mask(ids, 0.0).any() and sample_mask(ids, 1.0).all()


def test_observe_many_equals_observing_one_by_one() -> None:
    registry = CollectorRegistry()
    bulk = Histogram("bulk", "b", buckets=(0.5, 1.0, 2.0), registry=registry)
    single = Histogram("single", "s", buckets=(0.5, 1.0, 2.0), registry=registry)
    values = np.array([0.1, 0.5, 0.50001, 1.0, 3.0, 2.0, 7.5])
    observe_many(bulk, values)
    for v in values:
        single.observe(v)

    def samples(name: str) -> list[tuple[str, float]]:
        family = next(f for f in registry.collect() if f.name == name)
        return [
            (s.name.replace(name, ""), s.value) for s in family.samples if "created" not in s.name
        ]

    assert samples("bulk") == samples("single")


def test_captured_requests_encode_like_live_ones() -> None:
    model = small_model()
    rows = [{"request": request_body(f"c{i}", hour_of_day=i % 24)} for i in range(30)]
    rows.append({"request": {"impression_id": "bad", "hour_of_day": 99}})  # no longer valid
    matrix = encode_captured(rows, model.encoder)
    live = model.encoder.encode_requests(
        [PredictRequest.model_validate(r["request"]) for r in rows[:30]]
    )
    np.testing.assert_array_equal(np.nan_to_num(matrix, nan=-1), np.nan_to_num(live, nan=-1))


def test_floor_captures_with_a_publisher_are_read_by_the_drift_monitor() -> None:
    # The floor paths (/v2/floor, the demo's live floors) capture FloorRequests: the monitor
    # once refused them all for their publisher_id and saw "0 captured requests".
    model = small_model()
    floor = FloorRequest.model_validate(
        {**request_body("f1", hour_of_day=20), "publisher_id": "pub-001", "data_points": 12}
    )
    scored = Scored(2.0, 1.5, 2.5, "1", "champion", False)
    row = capture_row(floor, scored, datetime(2026, 3, 4, 20, tzinfo=UTC), 1.0)
    assert row["request"]["publisher_id"] == "pub-001"
    junk = {"request": {**request_body("f2"), "not_a_field": 1}}
    matrix = encode_captured([row, junk], model.encoder)
    assert matrix.shape[0] == 1
    np.testing.assert_array_equal(
        np.nan_to_num(matrix, nan=-1), np.nan_to_num(model.encoder.encode_requests([floor]), nan=-1)
    )


def test_drift_feed_is_column_wise_for_the_chart() -> None:
    timeline = [
        {
            "computed_at": "2026-01-01T00:00:00+00:00",
            "score": 0.1,
            "level": "OK",
            "features": {"hour_of_day": 0.1, "format": 0.2},
        },
        {
            "computed_at": "2026-01-01T01:00:00+00:00",
            "score": 0.6,
            "level": "WARNING",
            "features": {"hour_of_day": 0.7},
        },
    ]
    feed = drift_feed(timeline)
    assert feed["t"] == [1767225600.0, 1767229200.0]
    assert feed["score"] == [0.1, 0.6] and feed["levels"] == ["OK", "WARNING"]
    assert feed["features"] == {"format": [0.2, None], "hour_of_day": [0.1, 0.7]}
