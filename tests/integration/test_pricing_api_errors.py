"""Every bad input on every pricing endpoint gets a clear 4xx in the platform's error shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ssmas.settings import Settings
from tests.integration.test_pricing_api import Api, start
from tests.pricing_serving_support import request_body, small_model

GOOD = request_body()
SINGLE = ("/v2/predict", "/v2/floor")
BATCH = ("/v2/predict/batch", "/v2/floor/batch")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = Settings(profile="test", data_dir=tmp_path_factory.mktemp("errors") / "data")
    settings.ensure_dirs()
    for running in start(settings):
        running.runtime.service.install("champion", small_model())
        yield running


def check(response: Any, status: int, code: str, fragment: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert fragment in body["message"], body["message"]
    return body


FIELD_CASES = [
    ({"hour_of_day": 24}, "hour_of_day must be between 0 and 23 (got 24)"),
    ({"hour_of_day": -1}, "hour_of_day must be between 0 and 23"),
    ({"hour_of_day": "20"}, "hour_of_day must be an integer"),
    ({"hour_of_day": 20.5}, "hour_of_day must be an integer"),
    ({"hour_of_day": True}, "hour_of_day must be an integer"),
    ({"day_of_week": 0}, "day_of_week must be between 1 and 7 (got 0)"),
    ({"day_of_week": 8}, "day_of_week must be between 1 and 7"),
    ({"country_tier": 4}, "country_tier must be between 1 and 3 (got 4)"),
    ({"country_tier": 0}, "country_tier must be between 1 and 3"),
    ({"device_category": "tv"}, "device_category must be one of: mobile, tablet, desktop"),
    ({"device_category": None}, "device_category must be one of"),
    ({"format": "audio"}, "format must be one of"),
    ({"inventory_type": "gold"}, "inventory_type must be one of"),
    ({"impression_id": ""}, "impression_id"),
    ({"impression_id": "x" * 129}, "impression_id"),
    ({"user_engagement_score": 1.5}, "user_engagement_score must be between 0 and 1"),
    ({"historical_ctr_avg": -0.1}, "historical_ctr_avg must be between 0 and 1"),
    ({"device_performance_score": -3}, "device_performance_score must be at least 0"),
    ({"domain": ""}, "domain"),
    ({"surprise": 1}, "unknown field: surprise"),
]
MISSING = [
    "impression_id",
    "hour_of_day",
    "day_of_week",
    "country_tier",
    "device_category",
    "format",
    "inventory_type",
]


@pytest.mark.parametrize("path", SINGLE)
@pytest.mark.parametrize(("change", "fragment"), FIELD_CASES)
def test_single_field_errors(api: Api, path: str, change: dict[str, Any], fragment: str) -> None:
    body = {**GOOD, **change}
    check(api.client.post(path, json=body, headers=api.read), 422, "invalid_request", fragment)


@pytest.mark.parametrize("path", BATCH)
@pytest.mark.parametrize(("change", "fragment"), FIELD_CASES[:10])
def test_batch_field_errors_name_the_row(
    api: Api, path: str, change: dict[str, Any], fragment: str
) -> None:
    rows = [GOOD, {**GOOD, **change}]
    answer = api.client.post(path, json=rows, headers=api.read)
    if path == "/v2/predict/batch":  # seed 003: the valid row priced, the other answered
        assert answer.status_code == 200, answer.text
        priced, refused = answer.json()
        assert priced["predicted_cpm"] > 0
        assert refused["predicted_cpm"] is None and refused["index"] == 1
        assert refused["impression_id"] == rows[1].get("impression_id")
        assert fragment in refused["error"]
        return
    body = check(answer, 422, "invalid_request")
    assert body["details"][0]["field"].startswith("[1].")
    assert fragment in body["details"][0]["message"]


@pytest.mark.parametrize("path", SINGLE + BATCH)
@pytest.mark.parametrize("field", MISSING)
def test_missing_fields(api: Api, path: str, field: str) -> None:
    body: Any = {k: v for k, v in GOOD.items() if k != field}
    body = [body] if path in BATCH else body
    answer = api.client.post(path, json=body, headers=api.read)
    if path == "/v2/predict/batch":  # no row valid: 400, the envelope and the per-row errors
        refused = check(answer, 400, "invalid_request", f"missing required field: {field}")
        assert refused["details"][0]["field"] == f"[0].{field}"
        assert refused["errors"][0]["index"] == 0
        assert refused["errors"][0]["predicted_cpm"] is None
        return
    check(
        answer,
        422,
        "invalid_request",
        f"missing required field: {'[0].' if path in BATCH else ''}{field}",
    )


@pytest.mark.parametrize("path", [*SINGLE, *BATCH, "/v2/outcomes"])
@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"", 400, "empty_body"),
        (b"   ", 400, "empty_body"),
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"null", 422, "invalid_request"),
        (b"42", 422, "invalid_request"),
    ],
)
def test_malformed_bodies(api: Api, path: str, raw: bytes, status: int, code: str) -> None:
    headers = {**api.every, "Content-Type": "application/json"}
    check(api.client.post(path, content=raw, headers=headers), status, code)


@pytest.mark.parametrize("path", SINGLE)
def test_array_where_an_object_is_expected(api: Api, path: str) -> None:
    check(
        api.client.post(path, json=[GOOD], headers=api.read),
        422,
        "invalid_request",
        "request body must be a JSON object",
    )


@pytest.mark.parametrize("path", [*BATCH, "/v2/outcomes"])
def test_batch_shape_errors(api: Api, path: str) -> None:
    key = api.write if path == "/v2/outcomes" else api.read
    check(api.client.post(path, json=GOOD, headers=key), 422, "invalid_request")
    check(
        api.client.post(path, json=[], headers=key),
        422,
        "invalid_request",
        "batch must contain at least 1 item",
    )
    item = {"impression_id": "x", "filled": False} if path == "/v2/outcomes" else GOOD
    check(
        api.client.post(path, json=[item] * 1001, headers=key),
        422,
        "invalid_request",
        "batch size cannot exceed 1000 items",
    )


@pytest.mark.parametrize("path", [*SINGLE, *BATCH, "/v2/outcomes"])
def test_non_json_content_type_is_415(api: Api, path: str) -> None:
    check(api.client.post(path, data={"a": "b"}, headers=api.every), 415, "unsupported_media_type")


def test_floor_specific_fields(api: Api) -> None:
    for change, fragment in (
        ({"data_points": -1}, "data_points must be at least 0"),
        ({"data_points": 1.5}, "data_points must be an integer"),
        ({"publisher_id": ""}, "publisher_id"),
        ({"publisher_id": "p" * 65}, "publisher_id"),
    ):
        check(
            api.client.post("/v2/floor", json={**GOOD, **change}, headers=api.read),
            422,
            "invalid_request",
            fragment,
        )
    # A /v2/predict body must not carry floor-only fields.
    check(
        api.client.post("/v2/predict", json={**GOOD, "data_points": 3}, headers=api.read),
        422,
        "invalid_request",
        "unknown field: data_points",
    )


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ({"impression_id": "x", "filled": True}, "a filled impression needs its clearing_cpm"),
        ({"impression_id": "x", "filled": False, "clearing_cpm": 2.0}, "has no clearing_cpm"),
        ({"impression_id": "x", "filled": True, "clearing_cpm": -1}, "clearing_cpm"),
        ({"impression_id": "x", "filled": "yes"}, "filled"),
        (
            {"impression_id": "x", "filled": True, "clearing_cpm": 1, "revenue_eur": -2},
            "revenue_eur",
        ),
        ({"filled": False}, "missing required field: [0].impression_id"),
        ({"impression_id": "x", "filled": False, "extra": 1}, "unknown field"),
    ],
)
def test_outcome_errors(api: Api, item: dict[str, Any], fragment: str) -> None:
    check(
        api.client.post("/v2/outcomes", json=[item], headers=api.write),
        422,
        "invalid_request",
        fragment,
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"min_floor": 5, "max_floor": 1}, "min_floor must not exceed max_floor"),
        ({"control_share": 2}, "control_share"),
        ({"min_floor": -1}, "min_floor"),
        ({"max_floor": 0}, "max_floor"),
        ({"enabled": "maybe"}, "enabled"),
        ({"skip_rate": 0.1}, "unknown field: skip_rate"),
        ([], "request body must be a JSON object"),
    ],
)
def test_floor_config_errors(api: Api, body: Any, fragment: str) -> None:
    check(
        api.client.put("/v2/publishers/pub1/floor-config", json=body, headers=api.admin),
        422,
        "invalid_request",
        fragment,
    )


@pytest.mark.parametrize("publisher", ["-bad", "a" * 65, "sp ace", "semi;colon"])
def test_bad_publisher_ids(api: Api, publisher: str) -> None:
    for method in ("get", "put"):
        response = api.client.request(
            method, f"/v2/publishers/{publisher}/floor-config", json={}, headers=api.admin
        )
        assert response.status_code in (404, 422), response.text
        assert "error" in response.json()


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/v2/models/promote", {"version": 0}, "version"),
        ("/v2/models/promote", {"version": "3"}, "version"),
        ("/v2/models/promote", {"version": 1, "force": True}, "unknown field"),
        ("/v2/models/promote", [], "request body must be a JSON object"),
    ],
)
def test_promote_errors(api: Api, path: str, body: Any, fragment: str) -> None:
    check(api.client.post(path, json=body, headers=api.admin), 422, "invalid_request", fragment)


@pytest.mark.parametrize(
    "body", [{"challenger_share": 1.5}, {"challenger_share": -0.1}, {}, {"challenger_share": "x"}]
)
def test_split_errors(api: Api, body: dict[str, Any]) -> None:
    check(api.client.put("/v2/models/split", json=body, headers=api.admin), 422, "invalid_request")


@pytest.mark.parametrize(
    "query",
    [
        "window_minutes=0",
        "window_minutes=-5",
        "window_minutes=abc",
        "window_minutes=99999999",
        "history=-1",
        "history=x",
    ],
)
def test_monitoring_query_errors(api: Api, query: str) -> None:
    for path in ("/v2/monitoring/drift", "/v2/monitoring/outcomes"):
        if query.startswith("history") and path.endswith("outcomes"):
            continue
        check(api.client.get(f"{path}?{query}", headers=api.read), 422, "validation_error")


ENDPOINTS = [
    ("post", "/v2/predict", GOOD, "pricing:read"),
    ("post", "/v2/predict/batch", [GOOD], "pricing:read"),
    ("post", "/v2/floor", GOOD, "pricing:read"),
    ("post", "/v2/floor/batch", [GOOD], "pricing:read"),
    ("post", "/v2/outcomes", [{"impression_id": "x", "filled": False}], "pricing:write"),
    ("get", "/v2/models", None, "pricing:read"),
    ("post", "/v2/models/promote", {"version": 1}, "pricing:admin"),
    ("post", "/v2/models/rollback", None, "pricing:admin"),
    ("put", "/v2/models/split", {"challenger_share": 0.1}, "pricing:admin"),
    ("get", "/v2/publishers/p1/floor-config", None, "pricing:read"),
    ("put", "/v2/publishers/p1/floor-config", {}, "pricing:admin"),
    ("get", "/v2/ad-units/u1/floor", None, "pricing:read"),
    ("put", "/v2/ad-units/u1/floor", {"floor_eur": 1.0}, "pricing:admin"),
    ("get", "/v2/monitoring/drift", None, "pricing:read"),
    ("get", "/v2/monitoring/outcomes", None, "pricing:read"),
]


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS)
def test_every_endpoint_needs_a_key_with_its_scope(
    api: Api, method: str, path: str, body: Any, scope: str
) -> None:
    payload = {} if body is None else {"content": json.dumps(body).encode()}
    check(api.client.request(method, path, **payload), 401, "missing_api_key")
    check(
        api.client.request(method, path, headers={"X-API-Key": "nonsense"}, **payload),
        401,
        "invalid_api_key",
    )
    check(api.client.request(method, path, headers=api.other, **payload), 403, "forbidden", scope)
    wrong = api.read if scope != "pricing:read" else api.write
    check(api.client.request(method, path, headers=wrong, **payload), 403, "forbidden", scope)


def test_no_bad_input_anywhere_gives_a_500(api: Api, tmp_path: Path) -> None:
    junk: list[Any] = [None, 0, -1, 1e309, "", "x" * 5000, [], {}, [[]], [{}], {"a": {"b": [1]}}]
    for method, path, _body, _scope in ENDPOINTS:
        for value in junk:
            raw = json.dumps(value).encode() if value != 1e309 else b"1e309"
            headers = {**api.every, "Content-Type": "application/json"}
            response = api.client.request(method, path, content=raw, headers=headers)
            assert response.status_code < 500, (method, path, value, response.text)
