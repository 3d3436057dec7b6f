"""The /v2 pricing API over HTTP on a real SQLite platform: contract, floors, capture, outcomes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security.audit import list_audit
from ssmas.core.security.keys import create_api_key
from ssmas.pricing.api import FLOOR_BATCH
from ssmas.pricing.floors.decisions import decide, decision_row, floor_body
from ssmas.pricing.serving import store
from ssmas.pricing.serving.capture import sampled
from ssmas.pricing.serving.runtime import ServingRuntime, started_serving_runtime
from ssmas.settings import PricingSettings, Settings
from tests.pricing_serving_support import BlockingScorer, request_body, small_model


@dataclass
class Api:
    client: TestClient
    platform: Platform
    runtime: ServingRuntime
    read: dict[str, str]
    write: dict[str, str]
    admin: dict[str, str]
    other: dict[str, str]
    every: dict[str, str]

    def flush(self) -> None:
        self.runtime.writer.flush()


def make_key(platform: Platform, scopes: list[str]) -> dict[str, str]:
    with platform.uow() as uow:
        raw, _ = create_api_key(uow.session, "-".join(scopes), scopes)
        uow.commit()
    return {"X-API-Key": raw}


def start(settings: Settings, **pricing: Any) -> Iterator[Api]:
    """The API on ``settings`` with no model loading, no periodic drift and ``pricing``."""
    section = PricingSettings(load_models=False, drift_interval_s=0, **pricing)
    platform = build_platform(
        settings.model_copy(update={"rate_limit_burst": 100_000, "pricing": section})
    )
    try:
        with TestClient(create_app(platform)) as client:
            runtime = started_serving_runtime(platform)
            assert runtime is not None
            yield Api(
                client,
                platform,
                runtime,
                make_key(platform, ["pricing:read"]),
                make_key(platform, ["pricing:write"]),
                make_key(platform, ["pricing:admin", "pricing:read"]),
                make_key(platform, ["adops:read"]),
                make_key(platform, ["pricing"]),
            )
    finally:
        platform.close()


@pytest.fixture()
def api(settings: Settings) -> Iterator[Api]:
    yield from start(settings)


@pytest.fixture()
def served(api: Api) -> Api:
    api.runtime.service.install("champion", small_model())
    return api


def test_predict_contract(served: Api) -> None:
    response = served.client.post("/v2/predict", json=request_body("imp-42"), headers=served.read)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "impression_id",
        "predicted_cpm",
        "confidence_interval",
        "model_version",
        "variant",
        "prediction_timestamp",
        "latency_ms",
        "fallback",
    }
    assert body["impression_id"] == "imp-42" and body["model_version"] == "1"
    assert body["variant"] == "champion" and body["fallback"] is False
    ci = body["confidence_interval"]
    assert 0 <= ci["lower"] <= body["predicted_cpm"] <= ci["upper"]
    assert body["prediction_timestamp"].endswith("Z") and body["latency_ms"] >= 0


def test_batch_answers_in_request_order_and_equals_single(served: Api) -> None:
    rows = [request_body(f"b{i}", hour_of_day=i, country_tier=1 + i % 3) for i in range(24)]
    batch = served.client.post("/v2/predict/batch", json=rows, headers=served.read)
    assert batch.status_code == 200, batch.text
    answers = batch.json()
    assert [a["impression_id"] for a in answers] == [r["impression_id"] for r in rows]
    for row in (rows[0], rows[13]):
        single = served.client.post("/v2/predict", json=row, headers=served.read).json()
        match = next(a for a in answers if a["impression_id"] == row["impression_id"])
        assert single["predicted_cpm"] == pytest.approx(match["predicted_cpm"], abs=1e-4)
    full = [request_body(f"f{i}") for i in range(1000)]
    assert (
        len(served.client.post("/v2/predict/batch", json=full, headers=served.read).json()) == 1000
    )


def test_without_a_model_answers_are_flagged_fallback(api: Api) -> None:
    body = api.client.post("/v2/predict", json=request_body(), headers=api.read).json()
    assert body["fallback"] is True and body["model_version"] == "none"
    assert body["predicted_cpm"] == 2.0  # the seed's fallbackCPM
    floor = api.client.post("/v2/floor", json=request_body(), headers=api.read).json()
    assert floor["reason"] == "fallback" and floor["floor"] == 2.0 and floor["fallback"] is True


def test_floor_uses_the_publisher_config_and_logs_every_decision(served: Api) -> None:
    c, h = served.client, served.read
    dynamic = c.post("/v2/floor", json=request_body("d1", publisher_id="pubA"), headers=h).json()
    assert dynamic["reason"] == "dynamic" and 0.5 <= dynamic["floor"] <= 10.0
    assert dynamic["model_version"] == "1" and dynamic["competition_multiplier"] == 1.1
    put = c.put(
        "/v2/publishers/pubA/floor-config", json={"control_share": 1.0}, headers=served.admin
    )
    assert put.status_code == 200 and put.json()["stored"] is True
    assert (
        c.get("/v2/publishers/pubA/floor-config", headers=h).json()["config"]["control_share"] == 1
    )
    control = c.post("/v2/floor", json=request_body("d2", publisher_id="pubA"), headers=h).json()
    assert control["reason"] == "control" and control["floor"] is None and control["control"]
    c.put("/v2/publishers/pubB/floor-config", json={"enabled": False}, headers=served.admin)
    rows = [request_body(f"e{i}", publisher_id="pubB" if i % 2 else "pubC") for i in range(6)]
    batch = c.post("/v2/floor/batch", json=rows, headers=h).json()
    assert [b["reason"] for b in batch] == ["dynamic", "disabled"] * 3
    served.flush()
    logged = store.count_rows(served.platform.engine, store.floor_decisions)
    assert logged == 8
    with served.platform.uow() as uow:
        actions = [a.action for a in list_audit(uow.session, 10)]
    assert actions.count("pricing.floor_config") == 2
    defaults = c.get("/v2/publishers/nobody/floor-config", headers=h).json()
    assert defaults["stored"] is False and defaults["config"]["min_floor"] == 0.5


def mixed_floor_batch(n: int) -> list[dict[str, Any]]:
    """Floor requests across publishers (control share, disabled, defaults, none), hours and
    inventories, half of them with the caller's own ``data_points``."""
    rows = []
    for i in range(n):
        body = request_body(
            f"mix-{i}",
            hour_of_day=i % 24,
            inventory_type=("premium", "standard", "remnant")[i % 3],
            country_tier=1 + i % 3,
        )
        publisher = ("ctl", "off", "plain", None)[i % 4]
        if publisher is not None:
            body["publisher_id"] = publisher
        if i % 2:
            body["data_points"] = (0, 7, 60, 900, 4000)[i % 5]
        rows.append(body)
    return rows


@pytest.mark.parametrize("with_model", [True, False])
def test_floor_batch_answers_and_logs_what_the_per_row_path_gives(
    api: Api, with_model: bool
) -> None:
    if with_model:
        api.runtime.service.install("champion", small_model())
    c = api.client
    c.put(
        "/v2/publishers/ctl/floor-config",
        json={"control_share": 0.4, "min_floor": 0.2, "fallback_floor": 1.5},
        headers=api.admin,
    )
    c.put("/v2/publishers/off/floor-config", json={"enabled": False}, headers=api.admin)
    rows = mixed_floor_batch(120)
    response = c.post("/v2/floor/batch", json=rows, headers=api.read)
    assert response.status_code == 200, response.text
    answers = response.json()
    # The per-row path (decide, floor_body, decision_row) on the same priced batch.
    reqs = FLOOR_BATCH.parse(json.dumps(rows).encode())
    priced = c.portal.call(api.runtime.service.score_many, reqs)  # type: ignore[union-attr]
    decisions = [
        decide(req, priced.row(i), api.runtime.floors.get(req.publisher_id))
        for i, req in enumerate(reqs)
    ]
    stamp, latency = answers[0]["decision_timestamp"], answers[0]["latency_ms"]
    expected = [
        floor_body(req, priced.row(i), decision, stamp, latency)
        for i, (req, decision) in enumerate(zip(reqs, decisions, strict=True))
    ]
    assert [list(a.items()) for a in answers] == [list(e.items()) for e in expected]
    reasons = {a["reason"] for a in answers}
    assert reasons == (
        {"dynamic", "control", "disabled"} if with_model else {"fallback", "control", "disabled"}
    )
    assert all(a["fallback"] is not with_model for a in answers)
    api.flush()
    with api.platform.engine.connect() as conn:
        logged = conn.execute(store.floor_decisions.select()).mappings().all()
    at = logged[0]["decided_at"]
    assert [{k: v for k, v in r.items() if k != "id"} for r in logged] == [
        decision_row(req, priced.row(i), decision, at)
        for i, (req, decision) in enumerate(zip(reqs, decisions, strict=True))
    ]
    assert all(r["decided_at"] == at for r in logged)


def test_capture_keeps_the_hashed_ten_percent(served: Api) -> None:
    ids = [f"cap-{i}" for i in range(120)]
    for i in ids[:60]:
        served.client.post("/v2/predict", json=request_body(i), headers=served.read)
    served.client.post(
        "/v2/predict/batch", json=[request_body(i) for i in ids[60:]], headers=served.read
    )
    served.flush()
    with served.platform.engine.connect() as conn:
        rows = conn.execute(store.captures.select()).mappings().all()
    assert sorted(r["impression_id"] for r in rows) == sorted(i for i in ids if sampled(i, 0.1))
    assert all(r["model_version"] == "1" and r["request"]["impression_id"] for r in rows)


def test_outcomes_are_matched_to_the_variant_that_priced_them(served: Api) -> None:
    c = served.client
    priced = c.post("/v2/predict", json=request_body("o1"), headers=served.read).json()
    outcomes = [
        {"impression_id": "o1", "filled": True, "clearing_cpm": priced["predicted_cpm"] + 1.0},
        {"impression_id": "never-priced", "filled": False},
    ]
    receipt = c.post("/v2/outcomes", json=outcomes, headers=served.write)
    assert receipt.status_code == 200, receipt.text
    assert receipt.json() == {"accepted": 2, "matched": 1, "unmatched": 1}
    served.flush()
    realised = c.get("/v2/monitoring/outcomes", headers=served.read).json()["variants"]
    assert realised["champion"]["mae_eur"] == pytest.approx(1.0, abs=1e-3)
    assert realised["unmatched"]["outcomes"] == 1
    metrics = c.get("/metrics").text
    assert 'ssmas_pricing_revenue_eur_total{variant="champion"}' in metrics
    assert 'ssmas_pricing_predictions_total{fallback="false",variant="champion"}' in metrics
    assert "ssmas_pricing_realised_mae_eur" in metrics


def test_models_lists_serving_state_and_live_stats(served: Api) -> None:
    served.client.post("/v2/predict", json=request_body(), headers=served.read)
    body = served.client.get("/v2/models", headers=served.read).json()
    assert body["versions"] == []  # no registry in this data directory
    serving = body["serving"]
    assert serving["models"]["champion"]["version"] == "1"
    assert serving["models"]["challenger"] is None
    assert serving["variants"]["champion"]["requests"] == 1
    split = served.client.put(
        "/v2/models/split", json={"challenger_share": 0.5}, headers=served.admin
    )
    assert split.status_code == 200 and split.json()["challenger_share"] == 0.5
    promote = served.client.post("/v2/models/promote", json={"version": 2}, headers=served.admin)
    assert promote.status_code == 404 and promote.json()["error"] == "no_models"


def test_hung_model_answers_fallback_over_http(served: Api) -> None:
    blocking = BlockingScorer(small_model())
    served.runtime.service.install("champion", blocking)
    try:
        body = served.client.post("/v2/predict", json=request_body(), headers=served.read).json()
        assert not blocking.finished.is_set()
    finally:
        blocking.release.set()
    assert body["fallback"] is True and body["model_version"] == "9"
    assert "ssmas_pricing_fallbacks_total" in served.client.get("/metrics").text
