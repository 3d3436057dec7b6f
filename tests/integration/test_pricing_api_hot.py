"""The hot /v2 routes as lean routes: documented, measured, and the same answers both ways.

They are answered by the platform's exact-path dispatch; ``create_app(..., lean=False)`` serves
the same endpoints through FastAPI's routing, and both must give the same answers and errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core import metrics
from ssmas.pricing.serving.runtime import started_serving_runtime
from ssmas.settings import PricingSettings, Settings
from tests.integration.test_pricing_api import Api, make_key, start
from tests.pricing_serving_support import request_body, small_model

HOT = {
    "/v2/predict": "PredictResponse",
    "/v2/predict/batch": "BatchPredictResponse",
    "/v2/floor": "FloorResponse",
    "/v2/floor/batch": "BatchFloorResponse",
    "/v2/outcomes": "OutcomeReceipt",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = Settings(profile="test", data_dir=tmp_path_factory.mktemp("hot") / "data")
    settings.ensure_dirs()
    for running in start(settings):
        running.runtime.service.install("champion", small_model())
        yield running


@pytest.mark.parametrize(("path", "model"), HOT.items())
def test_hot_routes_are_documented_with_their_schemas(api: Api, path: str, model: str) -> None:
    spec = api.client.get("/openapi.json").json()
    operation = spec["paths"][path]["post"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith(f"/{model}")
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body  # the request schema, as the pydantic contract defines it
    assert {"401", "403", "415", "422", "429"} <= set(operation["responses"])
    assert operation.get("security"), "the API-key security is documented"
    if path == "/v2/predict":
        assert body["properties"]["hour_of_day"]["maximum"] == 23
    assert api.client.get("/docs").status_code == 200


def test_hot_routes_are_measured_by_their_path(api: Api) -> None:
    api.client.post("/v2/predict", json=request_body("m1"), headers=api.read)
    api.client.post("/v2/predict/batch", json=[request_body("m2")], headers=api.read)
    rendered = metrics.render()[0].decode()
    assert 'route="/v2/predict"' in rendered
    assert 'route="/v2/predict/batch"' in rendered


def test_a_body_only_pydantic_accepts_is_served(api: Api) -> None:
    body = request_body("lenient", user_engagement_score="0.25")
    answer = api.client.post("/v2/predict", json=body, headers=api.read)
    assert answer.status_code == 200, answer.text
    batch = api.client.post("/v2/predict/batch", json=[body, request_body("x")], headers=api.read)
    assert batch.status_code == 200 and len(batch.json()) == 2


CASES: list[tuple[str, Any]] = [
    ("/v2/predict", request_body("same-1")),
    ("/v2/predict", {**request_body(), "hour_of_day": 24}),
    ("/v2/predict/batch", [request_body("same-2"), request_body("same-3", domain=None)]),
    ("/v2/predict/batch", [request_body(), {**request_body(), "format": "audio"}]),
    ("/v2/predict/batch", [{**request_body("bad-1"), "format": "audio"}, 5]),
    ("/v2/predict/batch", [request_body("ok-1"), [], request_body("ok-2", hour_of_day=-1)]),
    ("/v2/predict/batch", [request_body("lenient", user_engagement_score="0.5"), {}]),
    ("/v2/floor", request_body("same-4", publisher_id="p9")),
    ("/v2/floor/batch", [request_body("same-5", data_points=5000)]),
    ("/v2/outcomes", [{"impression_id": "same-1", "filled": True, "clearing_cpm": 1.2}]),
]
VOLATILE = {"latency_ms", "prediction_timestamp", "decision_timestamp", "request_id"}


def stable(value: Any) -> Any:
    if isinstance(value, list):
        return [stable(v) for v in value]
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    return value


def test_lean_and_fastapi_routing_answer_alike(api: Api, settings: Settings) -> None:
    section = PricingSettings(load_models=False, drift_interval_s=0)
    slow_platform_settings = settings.model_copy(
        update={"rate_limit_burst": 100_000, "pricing": section}
    )
    from ssmas.core.platform import build_platform

    platform = build_platform(slow_platform_settings)
    try:
        with TestClient(create_app(platform, lean=False)) as client:
            runtime = started_serving_runtime(platform)
            assert runtime is not None
            runtime.service.install("champion", small_model())
            headers = make_key(platform, ["pricing:read", "pricing:write"])
            both = {**api.read, "X-API-Key": make_key(api.platform, ["pricing"])["X-API-Key"]}
            for path, body in CASES:
                slow = client.post(path, json=body, headers=headers)
                fast = api.client.post(path, json=body, headers=both)
                assert (slow.status_code, stable(slow.json())) == (
                    fast.status_code,
                    stable(fast.json()),
                ), path
            assert client.post("/v2/predict", json=request_body()).status_code == 401
    finally:
        platform.close()
