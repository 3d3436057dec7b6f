"""Request validation of /v2/predict, /v2/predict/batch and /v2/floor, with clear reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from ssmas.pricing.schemas import (
    BatchFloorRequest,
    BatchPredictRequest,
    FloorRequest,
    PredictRequest,
    PredictResponse,
    error_response,
)

VALID: dict[str, Any] = {
    "impression_id": "imp-1",
    "hour_of_day": 14,
    "day_of_week": 3,
    "country_tier": 1,
    "device_category": "mobile",
    "format": "banner",
    "inventory_type": "premium",
    "bidder": "criteo",
    "domain": "elpais.es",
    "user_engagement_score": 0.7,
    "device_performance_score": 85.0,
    "historical_ctr_avg": 0.03,
}


def rejection(model: Any, body: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(json.dumps(body))
    body: dict[str, Any] = error_response(caught.value).model_dump()
    return body


def test_valid_request_parses_and_optional_fields_default_to_none() -> None:
    full = PredictRequest.model_validate_json(json.dumps(VALID))
    assert full.hour_of_day == 14 and full.device_category == "mobile"
    required = {k: VALID[k] for k in list(VALID)[:7]}
    minimal = PredictRequest.model_validate_json(json.dumps(required))
    assert minimal.bidder is None and minimal.user_engagement_score is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hour_of_day", 24, "hour_of_day must be between 0 and 23 (got 24)"),
        ("hour_of_day", -1, "hour_of_day must be between 0 and 23 (got -1)"),
        ("day_of_week", 0, "day_of_week must be between 1 and 7 (got 0)"),
        ("day_of_week", 8, "day_of_week must be between 1 and 7 (got 8)"),
        ("country_tier", 4, "country_tier must be between 1 and 3 (got 4)"),
        (
            "device_category",
            "phone",
            "device_category must be one of: mobile, tablet, desktop (got 'phone')",
        ),
        ("format", "audio", "format must be one of: banner, video, native, interstitial"),
        ("inventory_type", "gold", "inventory_type must be one of: premium, standard, remnant"),
        ("user_engagement_score", 1.5, "user_engagement_score must be between 0 and 1"),
        ("historical_ctr_avg", -0.1, "historical_ctr_avg must be between 0 and 1"),
        ("device_performance_score", -3, "device_performance_score must be at least 0"),
        ("hour_of_day", "5", "hour_of_day must be an integer (got '5')"),
        ("hour_of_day", 5.5, "hour_of_day must be an integer"),
        ("impression_id", "", "impression_id: String should have at least 1 character"),
    ],
)
def test_each_bad_field_gets_a_clear_reason(field: str, value: Any, message: str) -> None:
    body = rejection(PredictRequest, VALID | {field: value})
    assert body["error"] == "invalid_request"
    assert [d["field"] for d in body["details"]] == [field]
    assert body["details"][0]["message"].startswith(message)


def test_missing_and_unknown_fields_are_named() -> None:
    body = VALID.copy()
    del body["country_tier"]
    body["hour"] = 3
    details = rejection(PredictRequest, body)["details"]
    messages = sorted(d["message"] for d in details)
    assert messages == ["missing required field: country_tier", "unknown field: hour"]


def test_non_finite_scores_are_refused() -> None:
    with pytest.raises(ValidationError):
        PredictRequest.model_validate(VALID | {"user_engagement_score": float("nan")})


def test_batch_limits_and_locations() -> None:
    batch = [VALID | {"impression_id": f"imp-{i}"} for i in range(1000)]
    assert len(BatchPredictRequest.model_validate_json(json.dumps(batch)).root) == 1000
    too_many = rejection(BatchPredictRequest, [*batch, VALID])
    assert too_many["message"] == "batch size cannot exceed 1000 items"
    empty = rejection(BatchPredictRequest, [])
    assert empty["message"] == "batch must contain at least 1 item"
    not_a_list = rejection(BatchPredictRequest, VALID)
    assert not_a_list["message"] == "batch body must be a JSON array of requests"
    one_bad = rejection(BatchPredictRequest, [VALID, VALID | {"hour_of_day": 24}])
    assert one_bad["details"][0]["field"] == "[1].hour_of_day"
    assert one_bad["message"] == "[1].hour_of_day must be between 0 and 23 (got 24)"


def test_floor_request_adds_publisher_and_history() -> None:
    floor = FloorRequest.model_validate(VALID | {"publisher_id": "pub-9", "data_points": 1200})
    assert floor.publisher_id == "pub-9" and floor.data_points == 1200
    body = rejection(FloorRequest, VALID | {"data_points": -5})
    assert body["message"] == "data_points must be at least 0 (got -5)"
    assert len(BatchFloorRequest.model_validate([VALID]).root) == 1


def test_response_serialises_the_seed_contract() -> None:
    response = PredictResponse.model_validate(
        {
            "impression_id": "imp-1",
            "predicted_cpm": 2.5,
            "confidence_interval": {"lower": 1.9, "upper": 3.4},
            "model_version": "pricing-cpm/3",
            "prediction_timestamp": "2026-01-05T10:00:00Z",
            "latency_ms": 0.8,
        }
    )
    dumped = json.loads(response.model_dump_json())
    assert dumped["confidence_interval"] == {"lower": 1.9, "upper": 3.4}
    assert dumped["fallback"] is False and dumped["variant"] == "champion"
