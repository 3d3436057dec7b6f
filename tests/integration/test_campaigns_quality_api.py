"""``POST /campaigns/quality/score``: one lead or a batch of columns, the registry's champion,
and a clear 4xx for every kind of bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.campaigns.product import PRODUCT
from ssmas.campaigns.quality.fast import FastScorer
from ssmas.campaigns.quality.features import LEAD_FIELDS, lead_matrix, lead_row
from ssmas.campaigns.quality.lifecycle import TrainConfig, load, train_and_decide
from ssmas.campaigns.quality.simulator import simulate_leads
from ssmas.core.platform import Platform, build_platform
from ssmas.core.registry import registry_from_settings
from ssmas.core.security.keys import create_api_key
from ssmas.settings import Settings

pytestmark = pytest.mark.slow  # trains a small model and registers it in MLflow

PATH = "/campaigns/quality/score"


def _settings(root: Path) -> Settings:
    settings = Settings(profile="test", data_dir=root)
    settings.ensure_dirs()
    return settings


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = _settings(tmp_path_factory.mktemp("quality") / "data")
    config = TrainConfig(leads=1200, test_leads=800, folds=2, rounds=25, seed=4)
    train_and_decide(registry_from_settings(settings), config)
    return settings


def _client(settings: Settings, scopes: list[str]) -> Iterator[tuple[TestClient, str, Platform]]:
    platform = build_platform(settings)
    with platform.uow() as uow:
        key, _ = create_api_key(uow.session, "quality-test", scopes)
        uow.commit()
    with TestClient(create_app(platform, products=[PRODUCT])) as client:
        yield client, key, platform
    platform.close()


@pytest.fixture(scope="module")
def api(trained: Settings) -> Iterator[tuple[TestClient, str, Platform]]:
    yield from _client(trained, ["campaigns:read"])


@pytest.fixture(scope="module")
def leads() -> Any:
    frame = simulate_leads(60, seed=31)[list(LEAD_FIELDS)]
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def post(api: tuple[TestClient, str, Platform], body: Any, **kwargs: Any) -> Any:
    client, key, _ = api
    return client.post(PATH, json=body, headers={"X-API-Key": key}, **kwargs)


def test_one_lead_is_scored_by_the_champion(api: Any, trained: Settings, leads: Any) -> None:
    ensemble, version = load(registry_from_settings(trained))
    reference = FastScorer(ensemble).score(lead_row(leads[0]))
    answer = post(api, {**leads[0], "lead_id": "L-1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["lead_id"] == "L-1" and body["model_version"] == str(version)
    assert body["quality"] == pytest.approx(reference.quality[0], abs=0.006)
    assert body["spread"] == pytest.approx(reference.spread[0], abs=0.006)
    assert 0.0 <= body["confidence"] <= 1.0
    quality, _ = ensemble.predict_with_confidence(lead_row(leads[0]))
    assert body["quality"] == pytest.approx(quality[0], abs=0.006)  # the libraries agree


def test_a_batch_of_columns_is_scored_in_order(api: Any, trained: Settings, leads: Any) -> None:
    columns = {name: [lead[name] for lead in leads] for name in LEAD_FIELDS}
    columns["lead_id"] = [f"L-{i}" for i in range(len(leads))]
    answer = post(api, {"columns": columns})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["count"] == len(leads) and body["lead_id"] == columns["lead_id"]
    ensemble, _ = load(registry_from_settings(trained))
    import pandas as pd

    quality, spread = ensemble.predict_with_confidence(lead_matrix(pd.DataFrame(leads)))
    np.testing.assert_allclose(body["quality"], quality, atol=0.006)
    np.testing.assert_allclose(body["spread"], spread, atol=0.006)
    single = post(api, leads[7]).json()
    assert single["quality"] == body["quality"][7]


def _batch(n: int) -> dict[str, Any]:
    lead = {
        "phone_valid": True, "line_type": "mobile", "lada": "55", "whatsapp_active": True,
        "instagram_active": False, "facebook_active": True, "google_active": False,
        "apple_active": False, "avg_response_time_h": 2.5, "source": "organic",
        "validated_hour": 10, "validated_weekday": 2, "validation_count": 1,
        "days_since_last_validation": 3, "lead_age_days": 9, "messages_opened_30d": 2,
        "links_clicked_30d": 1,
    }  # fmt: skip
    return {"columns": {k: [v] * n for k, v in lead.items()}}


def test_ten_thousand_leads_fit_and_one_more_is_refused(api: Any) -> None:
    full = post(api, _batch(10_000))
    assert full.status_code == 200, full.text[:300]
    assert full.json()["count"] == 10_000
    over = post(api, _batch(10_001))
    assert over.status_code == 422
    assert "at most 10000" in over.json()["message"]


@pytest.mark.parametrize(
    ("change", "status", "needle"),
    [
        (lambda b: {k: v for k, v in b.items() if k != "source"}, 422, "source: Field required"),
        (lambda b: {**b, "validated_hour": "3"}, 422, "validated_hour: Input should be a valid"),
        (lambda b: {**b, "phone_valid": 1}, 422, "phone_valid: Input should be a valid boolean"),
        (lambda b: {**b, "validated_hour": 24}, 422, "less than or equal to 23"),
        (lambda b: {**b, "lada": "00"}, 422, "unknown LADA code"),
        (lambda b: {**b, "lada": "5a"}, 422, "lada: String should match pattern"),
        (lambda b: {**b, "source": "carrier"}, 422, "source: Input should be"),
        (lambda b: {**b, "avg_response_time_h": 721.0}, 422, "avg_response_time_h"),
        (lambda b: {**b, "colour": "red"}, 422, "colour: Extra inputs are not permitted"),
        (lambda b: [b], 422, "send a JSON object"),
    ],
)
def test_bad_leads_get_a_422_with_the_reason(
    api: Any, leads: Any, change: Any, status: int, needle: str
) -> None:
    answer = post(api, change(dict(leads[0])))
    assert answer.status_code == status, answer.text
    assert needle in answer.json()["message"]
    assert answer.json()["error"] == "invalid_request"
    for detail in answer.json().get("details", []):  # the platform's ErrorDetail shape
        assert set(detail) == {"field", "message"}


def test_malformed_bodies(api: Any, leads: Any) -> None:
    client, key, _ = api
    headers = {"X-API-Key": key, "content-type": "application/json"}
    nan = client.post(PATH, content=b'{"avg_response_time_h": NaN}', headers=headers)
    assert nan.status_code == 400 and nan.json()["error"] == "invalid_json"
    empty = client.post(PATH, content=b"  ", headers=headers)
    assert empty.status_code == 400 and empty.json()["error"] == "empty_body"
    text = client.post(PATH, content=b"x", headers={"X-API-Key": key, "content-type": "text/csv"})
    assert text.status_code == 415
    uneven = _batch(3)
    uneven["columns"]["lada"] = ["55", "33"]
    answer = post(api, uneven)
    assert answer.status_code == 422 and "same length" in answer.json()["message"]
    missing = post(api, {"columns": {**uneven["columns"], "lada": ["55", "33", "81"]}} | {})
    assert missing.status_code == 200
    del uneven["columns"]["source"]
    answer = post(api, uneven)
    assert {"field": "columns.source", "message": "Field required"} in answer.json()["details"]
    huge = orjson.dumps(leads[0]).replace(
        b'"avg_response_time_h":', b'"avg_response_time_h":1e999,"x":'
    )
    answer = client.post(PATH, content=huge, headers=headers)
    assert answer.status_code in {400, 422}, answer.text
    assert client.post(PATH, json=leads[0]).status_code == 401


def test_wrong_scope_is_403(trained: Settings, leads: Any) -> None:
    for api in _client(trained, ["pricing:read"]):
        assert post(api, leads[0]).status_code == 403


def test_no_model_yet_is_503(tmp_path: Path, leads: Any) -> None:
    for api in _client(_settings(tmp_path / "data"), ["campaigns:read"]):
        answer = post(api, leads[0])
        assert answer.status_code == 503
        assert "ssmas campaigns quality train" in answer.json()["message"]
