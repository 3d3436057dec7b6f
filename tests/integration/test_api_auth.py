"""API keys over HTTP: 401 without a valid key, 403 without the scope, 429 over the rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.api import require_scope
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security.keys import (
    ApiKeyRecord,
    InvalidScopeError,
    create_api_key,
    revoke_api_key,
)
from ssmas.settings import Settings

router = APIRouter()


@router.get("/v1/test/prices")
async def read_prices(
    key: Annotated[ApiKeyRecord, Depends(require_scope("pricing:read"))],
) -> dict[str, str]:
    return {"caller": key.name}


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    built = build_platform(settings.model_copy(update={"rate_limit_burst": 1000}))
    yield built
    built.close()


def make_key(platform: Platform, name: str, scopes: list[str]) -> str:
    with platform.uow() as uow:
        raw, _record = create_api_key(uow.session, name, scopes)
        uow.commit()
    return raw


@pytest.fixture()
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, routers=[router])) as test_client:
        yield test_client


def assert_error(response: object, status: int, code: str) -> dict[str, object]:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    return dict(body)


def test_missing_key_is_401_with_bearer_challenge(client: TestClient) -> None:
    response = client.get("/v1/ping")
    assert_error(response, 401, "missing_api_key")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "not-a-key"},
        {"Authorization": "Bearer ssmas_abcdefgh_" + "x" * 43},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "k" * 5000},
        {"Authorization": "Bearer "},
    ],
    ids=["malformed", "unknown", "basic-scheme", "huge", "empty-bearer"],
)
def test_invalid_keys_are_401(client: TestClient, headers: dict[str, str]) -> None:
    assert_error(client.get("/v1/ping", headers=headers), 401, "invalid_api_key")


def test_valid_key_in_either_header(client: TestClient, platform: Platform) -> None:
    raw = make_key(platform, "reader", ["pricing:read"])
    for headers in ({"X-API-Key": raw}, {"Authorization": f"Bearer {raw}"}):
        response = client.get("/v1/ping", headers=headers)
        assert response.status_code == 200
        assert response.json() == {"pong": True, "key": "reader"}


def test_scope_is_enforced(client: TestClient, platform: Platform) -> None:
    reader = make_key(platform, "reader", ["pricing:read"])
    wildcard = make_key(platform, "pricing-admin", ["pricing:*"])
    other = make_key(platform, "adops", ["adops:read"])

    assert client.get("/v1/test/prices", headers={"X-API-Key": reader}).json() == {
        "caller": "reader"
    }
    assert client.get("/v1/test/prices", headers={"X-API-Key": wildcard}).status_code == 200
    body = assert_error(
        client.get("/v1/test/prices", headers={"X-API-Key": other}), 403, "forbidden"
    )
    assert "pricing:read" in str(body["message"])
    # The key itself is valid: the scope-free endpoint accepts it.
    assert client.get("/v1/ping", headers={"X-API-Key": other}).status_code == 200


def test_revoked_key_is_refused_once_the_cache_forgets(
    client: TestClient, platform: Platform
) -> None:
    raw = make_key(platform, "soon-revoked", ["*"])
    assert client.get("/v1/ping", headers={"X-API-Key": raw}).status_code == 200
    with platform.uow() as uow:
        assert revoke_api_key(uow.session, raw.split("_")[1])
        uow.commit()
    # Within the TTL the cached verification answers without reading the database.
    assert client.get("/v1/ping", headers={"X-API-Key": raw}).status_code == 200
    verifier = client.app.state.key_verifier  # type: ignore[attr-defined]
    verifier.forget()
    assert_error(client.get("/v1/ping", headers={"X-API-Key": raw}), 401, "invalid_api_key")


def test_over_rate_limit_is_429_with_retry_after(settings: Settings) -> None:
    tight = settings.model_copy(update={"rate_limit_per_s": 0.01, "rate_limit_burst": 3})
    platform = build_platform(tight)
    try:
        first = make_key(platform, "first", ["*"])
        second = make_key(platform, "second", ["*"])
        with TestClient(create_app(platform)) as client:
            for _ in range(3):
                assert client.get("/v1/ping", headers={"X-API-Key": first}).status_code == 200
            refused = client.get("/v1/ping", headers={"X-API-Key": first})
            assert_error(refused, 429, "rate_limited")
            retry_after = int(refused.headers["retry-after"])
            assert 1 <= retry_after <= 100  # one token at 0.01/s takes at most 100 s
            # Buckets are per key: another key is untouched.
            assert client.get("/v1/ping", headers={"X-API-Key": second}).status_code == 200
            # A missing key is refused before it could spend anyone's tokens.
            assert client.get("/v1/ping").status_code == 401
    finally:
        platform.close()


def test_malformed_scope_fails_at_definition() -> None:
    with pytest.raises(InvalidScopeError):
        require_scope("Pricing Read")


def test_database_failure_during_key_check_is_503(client: TestClient, platform: Platform) -> None:
    raw = make_key(platform, "orphan", ["*"])
    # Lose the database under the running app: the next connection sees an empty file.
    platform.engine.dispose()
    db_file = Path(platform.settings.resolved_database_url.removeprefix("sqlite:///"))
    db_file.unlink()
    response = client.get("/v1/ping", headers={"X-API-Key": raw})
    assert_error(response, 503, "unavailable")
    # The failure was not cached as "invalid key": it is a 503 again, not a 401.
    assert client.get("/v1/ping", headers={"X-API-Key": raw}).status_code == 503


def test_an_admin_scope_implies_read_on_its_resource(
    client: TestClient, platform: Platform
) -> None:
    admin = make_key(platform, "pricing-admin", ["pricing:admin"])
    assert client.get("/v1/test/prices", headers={"X-API-Key": admin}).status_code == 200
    other = make_key(platform, "assistant-admin", ["assistant:admin"])
    assert client.get("/v1/test/prices", headers={"X-API-Key": other}).status_code == 403
