"""Monitoring and the dashboard: drift from captured traffic, gauges, pricing pages; PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ssmas.pricing.serving import store
from ssmas.settings import Settings
from tests.integration.pricing_support import floorsim_report
from tests.integration.test_pricing_api import Api, start
from tests.pricing_serving_support import frame_requests, request_body, small_model, synthetic_frame


@pytest.fixture()
def api(settings: Settings) -> Iterator[Api]:
    for running in start(settings, capture_share=1.0):
        running.runtime.service.install("champion", small_model())
        yield running


def send(api: Api, rows: list[dict[str, object]]) -> None:
    response = api.client.post("/v2/predict/batch", json=rows, headers=api.read)
    assert response.status_code == 200, response.text
    api.flush()


def test_drift_is_ok_on_training_like_traffic_and_flags_shifted_traffic(api: Api) -> None:
    empty = api.client.get("/v2/monitoring/drift", headers=api.read).json()
    assert empty["current"]["available"] is False and "at least 50" in empty["current"]["reason"]

    send(api, frame_requests(synthetic_frame(400, seed=11)))
    calm = api.client.get("/v2/monitoring/drift?window_minutes=30", headers=api.read).json()
    assert calm["current"]["available"] is True, calm
    assert calm["current"]["level"] == "OK" and calm["current"]["n_rows"] == 400
    assert calm["current"]["model_version"] == "1"

    with api.platform.engine.begin() as conn:
        conn.execute(store.captures.delete())
    shifted = frame_requests(synthetic_frame(400, seed=12, shift=1.0))
    for row in shifted:
        row.update(country_tier=3, format="native", inventory_type="remnant", domain="new.example")
        row.update(user_engagement_score=0.01, historical_ctr_avg=0.0)
    send(api, shifted)
    drifted = api.client.get("/v2/monitoring/drift", headers=api.read).json()
    current = drifted["current"]
    # Seven of the features moved; the calendar ones, compared like for like (same hour and
    # weekday), did not, and the score is the mean over features (seed 003): past INFO's 0.3.
    assert current["score"] > 0.3 and current["level"] in ("INFO", "WARNING", "CRITICAL")
    scores = {f["name"]: f["score"] for f in current["features"]}
    assert scores["country_tier"] > 0.5 and scores["device_category_encoded"] > 0.5
    assert [p["level"] for p in drifted["timeline"]] == ["OK", current["level"]]

    metrics = api.client.get("/metrics").text
    assert f"ssmas_pricing_drift_score_ratio {current['score']}" in metrics
    assert 'ssmas_pricing_feature_drift_score_ratio{feature="country_tier"}' in metrics


def sign_in(api: Api) -> None:
    response = api.client.post(
        "/login", data={"api_key": api.read["X-API-Key"]}, follow_redirects=False
    )
    assert response.status_code == 303


def test_pricing_pages_need_a_session(api: Api) -> None:
    for path in (
        "/dashboard/pricing/models",
        "/dashboard/pricing/drift",
        "/dashboard/pricing/floors",
        "/dashboard/pricing/drift.json",
    ):
        response = api.client.get(path, follow_redirects=False)
        assert response.status_code == 303 and "/login" in response.headers["location"]


def test_models_page_shows_serving_state_and_live_panel(api: Api) -> None:
    api.client.post("/v2/predict", json=request_body(), headers=api.read)
    sign_in(api)
    page = api.client.get("/dashboard/pricing/models")
    assert page.status_code == 200
    assert "Models &amp; traffic" in page.text and 'data-champion="1"' in page.text
    assert "No model registered yet" in page.text  # no registry in this data directory
    assert (
        'data-variant="champion"' in page.text
        and "default-src 'self'" in page.headers["content-security-policy"]
    )
    live = api.client.get("/dashboard/pricing/models/live", headers={"HX-Request": "true"})
    assert live.status_code == 200 and 'id="pricing-live"' in live.text
    group = api.client.get("/dashboard/pricing")
    assert "/dashboard/pricing/drift" in group.text and "not deployed yet" not in group.text


def test_drift_page_plots_the_stored_history(api: Api) -> None:
    sign_in(api)
    assert "No drift report yet" in api.client.get("/dashboard/pricing/drift").text
    assert api.client.get("/dashboard/pricing/drift.json").json()["t"] == []
    send(api, frame_requests(synthetic_frame(200, seed=5)))
    api.client.get("/v2/monitoring/drift", headers=api.read)
    page = api.client.get("/dashboard/pricing/drift").text
    assert 'data-feature="hour_of_day"' in page and "pricing-drift.js" in page
    feed = api.client.get("/dashboard/pricing/drift.json").json()
    assert len(feed["t"]) == 1 and "country_tier" in feed["features"]
    script = api.client.get("/dashboard/pricing/assets/pricing-drift.js")
    assert script.status_code == 200 and "uPlot" in script.text


def test_floors_page_shows_the_simulation_the_model_side_wrote(api: Api) -> None:
    from ssmas.pricing.floors.simulation_report import floorsim_dir, write_report

    sign_in(api)
    assert "No floor simulation yet" in api.client.get("/dashboard/pricing/floors").text
    assert api.client.get("/dashboard/pricing/floors.png").status_code == 404
    write_report(floorsim_report(), floorsim_dir(api.platform.settings))
    api.client.put(
        "/v2/publishers/pubZ/floor-config", json={"control_share": 0.1}, headers=api.admin
    )
    page = api.client.get("/dashboard/pricing/floors").text
    assert 'data-policy="seed"' in page and "+7.27%" in page and "[+3.10, +11.00]" in page
    assert "12,345 auctions" in page and "pubZ" in page and "floors.png" in page
    plot = api.client.get("/dashboard/pricing/floors.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"


@pytest.mark.postgres
def test_serving_tables_on_postgresql(settings: Settings, pg_url: str) -> None:
    for api in start(settings.model_copy(update={"database_url": pg_url}), capture_share=1.0):
        api.runtime.service.install("champion", small_model())
        send(api, frame_requests(synthetic_frame(80, seed=2)))
        put = api.client.put(
            "/v2/publishers/pg1/floor-config", json={"min_floor": 1.0}, headers=api.admin
        )
        assert put.status_code == 200
        put = api.client.put(
            "/v2/publishers/pg1/floor-config", json={"min_floor": 1.5}, headers=api.admin
        )
        floor = api.client.post(
            "/v2/floor", json=request_body(publisher_id="pg1"), headers=api.read
        ).json()
        assert floor["floor"] >= 1.5
        outcome = [{"impression_id": "imp-1", "filled": True, "clearing_cpm": 2.0}]
        assert api.client.post("/v2/outcomes", json=outcome, headers=api.write).json()["matched"]
        drift = api.client.get("/v2/monitoring/drift", headers=api.read).json()
        assert drift["current"]["available"] and drift["timeline"]
        api.flush()
        assert store.count_rows(api.platform.engine, store.captures) == 81
        assert store.count_rows(api.platform.engine, store.floor_decisions) == 1
        assert store.count_rows(api.platform.engine, store.outcomes) == 1
