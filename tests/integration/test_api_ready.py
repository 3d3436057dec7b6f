"""``/ready`` checks the real database, bus and cache: 200 if all answer, else 503 with details."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.platform import Platform, build_platform
from ssmas.settings import Settings


def closed_port_url() -> str:
    """A Redis URL on a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def ready(platform: Platform) -> tuple[int, dict[str, object]]:
    with TestClient(create_app(platform)) as client:
        response = client.get("/ready")
        assert client.get("/health").json()["status"] == "ok"
    return response.status_code, response.json()


@pytest.fixture()
def embedded(settings: Settings) -> Iterator[Platform]:
    platform = build_platform(settings)
    yield platform
    platform.close()


def test_ready_on_sqlite_and_memory(embedded: Platform) -> None:
    status, body = ready(embedded)
    assert status == 200, body
    assert body["status"] == "ready"
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert set(checks) == {"db", "bus", "cache"}
    assert all(check["ok"] for check in checks.values())


@pytest.mark.postgres
@pytest.mark.redis
def test_ready_on_postgres_and_redis(settings: Settings, pg_url: str, redis_url: str) -> None:
    scaled = settings.model_copy(
        update={
            "database_url": pg_url,
            "redis_url": redis_url,
            "bus_backend": "redis",
            "cache_backend": "redis",
            "rate_limit_backend": "redis",
        }
    )
    platform = build_platform(scaled)
    try:
        assert platform.engine.dialect.name == "postgresql"
        status, body = ready(platform)
    finally:
        platform.close()
    assert status == 200, body
    assert body["status"] == "ready"


def test_ready_is_503_when_redis_is_down(settings: Settings) -> None:
    down = closed_port_url()
    broken = settings.model_copy(
        update={"redis_url": down, "cache_backend": "redis", "bus_url": down}
    )
    platform = build_platform(broken)
    try:
        status, body = ready(platform)
    finally:
        platform.close()
    assert status == 503, body
    assert body["error"] == "not_ready"
    assert "bus" in str(body["message"]) and "cache" in str(body["message"])
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["db"]["ok"] is True
    assert checks["cache"]["ok"] is False and checks["cache"]["error"]
    assert checks["bus"]["ok"] is False and checks["bus"]["error"]


def test_product_check_failure_makes_ready_503(embedded: Platform) -> None:
    def model_loaded() -> None:
        raise RuntimeError("no model in the registry")

    embedded.checks["pricing_model"] = model_loaded
    status, body = ready(embedded)
    assert status == 503
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["pricing_model"] == {
        "ok": False,
        "error": "RuntimeError: no model in the registry",
        "ms": checks["pricing_model"]["ms"],
    }
    assert checks["db"]["ok"] is True


def test_ready_fails_while_a_required_model_is_missing(settings: Settings) -> None:
    """A host that must serve a model (``require_model``) is not ready while it has none, as on
    a host whose registry setting points at an empty registry; ready once a champion loads."""
    from ssmas.pricing.serving.runtime import started_serving_runtime
    from ssmas.settings import PricingSettings
    from tests.pricing_serving_support import small_model

    section = PricingSettings(require_model=True, drift_interval_s=0)
    platform = build_platform(settings.model_copy(update={"pricing": section}))
    try:
        with TestClient(create_app(platform)) as client:
            runtime = started_serving_runtime(platform)
            assert runtime is not None
            runtime.loader.loaded.wait(30)
            response = client.get("/ready")
            assert response.status_code == 503
            check = response.json()["checks"]["pricing_models"]
            assert check["ok"] is False and "no champion" in str(check)
            runtime.service.install("champion", small_model())
            assert client.get("/ready").status_code == 200
    finally:
        platform.close()
