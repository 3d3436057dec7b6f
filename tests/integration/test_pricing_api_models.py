"""Champion / challenger from the MLflow registry: load at start, promote, roll back, hot reload."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.registry import ModelRegistry
from ssmas.core.security.audit import list_audit
from ssmas.pricing.lifecycle.retrain_decisions import recent_decisions
from ssmas.pricing.model.bundle import MODEL_NAME, PricingModel, save_to_registry, train_model
from ssmas.pricing.serving.hot_reload import MODEL_PROMOTED, publish_model_event
from ssmas.pricing.serving.runtime import started_serving_runtime
from ssmas.settings import PricingSettings, Settings
from tests.integration.pricing_support import fresh_registry
from tests.integration.test_pricing_api import make_key
from tests.pricing_serving_support import request_body, synthetic_frame

pytestmark = pytest.mark.slow


def trained(seed: int) -> PricingModel:
    model, _ = train_model(synthetic_frame(3000, seed=seed), params={"num_boost_round": 20})
    return model


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


@pytest.fixture()
def registry(tmp_path: Path, settings: Settings) -> ModelRegistry:
    registry = fresh_registry(tmp_path, settings)
    first = save_to_registry(registry, trained(0))
    second = save_to_registry(registry, trained(1))
    registry.promote(MODEL_NAME, first.version)
    registry.set_alias(MODEL_NAME, "challenger", second.version)
    return registry


def test_champion_and_challenger_serve_promote_and_roll_back(
    settings: Settings, registry: ModelRegistry
) -> None:
    from ssmas.core.platform import build_platform

    # reload on model events only, no polling
    section = PricingSettings(reload_interval_s=0, challenger_share=0.5)
    platform = build_platform(
        settings.model_copy(update={"rate_limit_burst": 10_000, "pricing": section})
    )
    read = make_key(platform, ["pricing:read"])
    admin = make_key(platform, ["pricing:admin", "pricing:read"])
    try:
        with TestClient(create_app(platform)) as client:
            runtime = started_serving_runtime(platform)
            assert runtime is not None
            wait_for(runtime.loader.loaded.is_set)
            ready = client.get("/ready").json()
            assert ready["checks"]["pricing_models"]["ok"] is True

            models = client.get("/v2/models", headers=read).json()
            assert [(v["version"], v["aliases"]) for v in models["versions"]] == [
                (1, ["champion"]),
                (2, ["challenger"]),
            ]
            assert models["versions"][0]["metrics"]["valid_rmse"] > 0
            served = models["serving"]["models"]
            assert served["champion"]["version"] == "1" and served["challenger"]["version"] == "2"

            answers = client.post(
                "/v2/predict/batch", headers=read, json=[request_body(f"v{i}") for i in range(40)]
            ).json()
            pairs = {(a["variant"], a["model_version"]) for a in answers}
            assert pairs == {("champion", "1"), ("challenger", "2")}

            assert client.post("/v2/models/promote", json={}, headers=read).status_code == 403
            promoted = client.post("/v2/models/promote", json={}, headers=admin)
            assert promoted.status_code == 200, promoted.text
            assert promoted.json()["champion"]["version"] == 2
            after = client.post("/v2/predict", json=request_body("p1"), headers=read).json()
            assert after["model_version"] == "2" and after["variant"] == "champion"
            assert runtime.service.slot("challenger") is None  # one version, one role

            rolled = client.post("/v2/models/rollback", headers=admin)
            assert rolled.status_code == 200 and rolled.json()["champion"]["version"] == 1
            back = client.post("/v2/predict", json=request_body("p2"), headers=read).json()
            assert back["model_version"] == "1"
            again = client.post("/v2/models/rollback", headers=admin)
            assert again.status_code == 409 and again.json()["error"] == "registry_refused"
            missing = client.post("/v2/models/promote", json={"version": 99}, headers=admin)
            assert missing.status_code == 404 and missing.json()["error"] == "model_not_found"

            # Another process (the CLI, the retraining workflow) moves an alias and says so.
            registry.set_alias(MODEL_NAME, "challenger", 2)
            publish_model_event(
                platform.bus, MODEL_PROMOTED, model=MODEL_NAME, version=2, actor="test"
            )
            wait_for(
                lambda: (s := runtime.service.slot("challenger")) is not None and s.version == "2"
            )

            client.post("/login", data={"api_key": read["X-API-Key"]})
            page = client.get("/dashboard/pricing/models").text
            assert 'data-version="2"' in page and "valid_rmse" in page
    finally:
        platform.close()
    with platform.uow() as uow:
        actions = [a.action for a in list_audit(uow.session, 10)]
    assert actions.count("pricing.promote") == 1 and actions.count("pricing.rollback") == 1
    # Each change is a recorded decision too (and a notification: the log by default).
    decisions = recent_decisions(platform.session_factory)
    assert [(d.outcome, d.trigger) for d in decisions] == [
        ("rolled_back", "approved"),
        ("promoted", "approved"),
    ]
    assert decisions[0].details["actor"].startswith("apikey:")
