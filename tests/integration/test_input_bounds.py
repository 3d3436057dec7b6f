"""Out-of-range ids and dates are refused at the edge with a 4xx, never a 500 (issue 12, item 1).

A conversation id beyond 64 bits used to reach SQLite (``OverflowError``), and a day at either
end of the calendar made the analytics report overflow when it added or subtracted days.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ssmas.core.api.bounds import MAX_ID
from ssmas.settings import Settings
from tests.integration.test_assistant_web import make_key, sign_in
from tests.integration.test_pricing_api import Api, start
from tests.pricing_serving_support import request_body, small_model

TOO_BIG = MAX_ID + 1
API = "/assistant/conversations"
PAGES = "/dashboard/assistant/conversations"
ACTIONS = ("takeover", "reply", "handback")


def refused(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] and body["message"] and body["request_id"], body
    return body


def test_api_refuses_conversation_ids_beyond_64_bits(client: TestClient, channel: Any) -> None:
    headers = {"X-API-Key": make_key(channel, "agent", ["assistant:read", "assistant:write"])}
    body = {"agent": "eva", "text": "hola"}
    for bad in (TOO_BIG, 10**30, 0, -1):
        refused(client.get(f"{API}/{bad}", headers=headers))
        for action in ACTIONS:
            refused(client.post(f"{API}/{bad}/{action}", json=body, headers=headers))
    # The largest id is in range: an ordinary "no such conversation".
    assert refused(client.get(f"{API}/{MAX_ID}", headers=headers), 404)["error"] == (
        "conversation_not_found"
    )
    for action in ACTIONS:
        refused(client.post(f"{API}/{MAX_ID}/{action}", json=body, headers=headers), 404)


def test_dashboard_refuses_conversation_ids_beyond_64_bits(
    client: TestClient, channel: Any
) -> None:
    sign_in(client, make_key(channel, "eva", ["assistant:read", "assistant:write"]))
    refused(client.get(f"{PAGES}/{TOO_BIG}"))
    for action in ACTIONS:
        refused(client.post(f"{PAGES}/{TOO_BIG}/{action}", data={"text": "hola"}))
    assert client.get(f"{PAGES}/{MAX_ID}").status_code == 404
    for action in ACTIONS:
        answer = client.post(f"{PAGES}/{MAX_ID}/{action}", data={"text": "hola"})
        assert answer.status_code == 404, answer.text


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "9999-12-25", "1969-12-31"])
def test_analytics_refuses_days_at_the_ends_of_the_calendar(
    client: TestClient, channel: Any, day: str
) -> None:
    sign_in(client, make_key(channel, "viewer", ["assistant:read"]))
    page = client.get(f"/dashboard/assistant/analytics?day={day}")
    assert page.status_code == 400, page.text
    assert "1970-01-01" in page.text
    for plot in ("sentiment", "clusters"):
        assert refused(client.get(f"/dashboard/assistant/analytics/{plot}.png?day={day}"), 400)[
            "error"
        ] == ("bad_day")
    # The edges themselves are served.
    assert client.get("/dashboard/assistant/analytics?day=1970-01-01").status_code == 200
    assert client.get(
        "/dashboard/assistant/analytics/sentiment.png?day=9999-12-01"
    ).status_code == (200)


@pytest.fixture(scope="module")
def pricing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    settings = Settings(profile="test", data_dir=tmp_path_factory.mktemp("bounds") / "data")
    settings.ensure_dirs()
    for running in start(settings):
        running.runtime.service.install("champion", small_model())
        yield running


def test_pricing_refuses_integers_beyond_64_bits(pricing: Api) -> None:
    client = pricing.client
    for version in (TOO_BIG, 10**30):
        promote = client.post(
            "/v2/models/promote", json={"version": version}, headers=pricing.admin
        )
        assert refused(promote)["error"] == "invalid_request"
    floor = {
        "impression_id": "i1",
        "hour_of_day": 20,
        "day_of_week": 5,
        "country_tier": 1,
        "device_category": "mobile",
        "format": "banner",
        "inventory_type": "premium",
        "data_points": 10**30,
    }
    for path, body in (("/v2/floor", floor), ("/v2/floor/batch", [floor])):
        answer = client.post(path, json=body, headers=pricing.read)
        assert refused(answer)["error"] == "invalid_request"
    drift = client.get("/v2/monitoring/drift?history=" + str(TOO_BIG), headers=pricing.read)
    refused(drift)


def test_outcomes_refuse_prices_that_would_overflow_the_statistics(pricing: Api) -> None:
    client = pricing.client
    assert client.post("/v2/predict", json=request_body("huge"), headers=pricing.read).is_success
    huge = [{"impression_id": "huge", "filled": True, "clearing_cpm": 1e308, "revenue_eur": 1e308}]
    body = refused(client.post("/v2/outcomes", json=huge, headers=pricing.write))
    assert "at most 100000" in body["message"]
    fine = [{"impression_id": "huge", "filled": True, "clearing_cpm": 2.5, "revenue_eur": 0.0025}]
    assert client.post("/v2/outcomes", json=fine, headers=pricing.write).status_code == 200
    pricing.flush()
    realised = client.get("/v2/monitoring/outcomes", headers=pricing.read)
    assert realised.status_code == 200, realised.text
    assert realised.json()["variants"]["champion"]["paired"] == 1
