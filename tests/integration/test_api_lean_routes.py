"""Lean routes answer like FastAPI routes: auth, scopes, limits, errors, ids, metrics, docs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel

from ssmas.bootstrap import create_app
from ssmas.core import metrics
from ssmas.core.api import DomainError
from ssmas.core.api.lean import collect_lean_routes, lean_route
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security.keys import ApiKeyRecord, create_api_key
from ssmas.settings import Settings

router = APIRouter()


class Echo(BaseModel):
    caller: str
    size: int


class TooBig(DomainError):
    code = "too_big"
    status = 422


@lean_route(router, "POST", "/v1/test/lean-echo", scope="pricing:read", response_model=Echo)
async def lean_echo(request: Request, key: ApiKeyRecord) -> Response:
    """Echo the caller and the body size; refuse bodies over 10 bytes with a domain error."""
    body = await request.body()
    if len(body) > 10:
        raise TooBig(message=f"{len(body)} bytes is over 10")
    return JSONResponse({"caller": key.name, "size": len(body)})


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    built = build_platform(
        settings.model_copy(update={"rate_limit_burst": 3, "rate_limit_per_s": 0.01})
    )
    yield built
    built.close()


def make_key(platform: Platform, scopes: list[str]) -> str:
    with platform.uow() as uow:
        raw, _record = create_api_key(uow.session, "lean-test", scopes)
        uow.commit()
    return raw


@pytest.fixture(params=[True, False], ids=["lean", "fastapi"])
def client(platform: Platform, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    app = create_app(platform, routers=[router], lean=request.param)
    with TestClient(app) as test_client:
        yield test_client


def test_answers_with_the_key_and_a_request_id(client: TestClient, platform: Platform) -> None:
    key = make_key(platform, ["pricing:read"])
    response = client.post("/v1/test/lean-echo", content=b"abc", headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    assert response.json() == {"caller": "lean-test", "size": 3}
    assert len(response.headers["x-request-id"]) == 32


def test_errors_have_the_one_json_shape(client: TestClient, platform: Platform) -> None:
    missing = client.post("/v1/test/lean-echo", content=b"abc")
    assert missing.status_code == 401
    assert missing.json()["error"] == "missing_api_key"
    assert missing.json()["request_id"] == missing.headers["x-request-id"]

    other = make_key(platform, ["assistant:read"])
    forbidden = client.post("/v1/test/lean-echo", content=b"abc", headers={"X-API-Key": other})
    assert forbidden.status_code == 403
    assert forbidden.json()["error"] == "forbidden"

    key = make_key(platform, ["pricing:read"])
    too_big = client.post("/v1/test/lean-echo", content=b"x" * 11, headers={"X-API-Key": key})
    assert too_big.status_code == 422
    assert too_big.json() == {
        "error": "too_big",
        "message": "11 bytes is over 10",
        "request_id": too_big.headers["x-request-id"],
    }


def test_rate_limit_gives_429_with_retry_after(client: TestClient, platform: Platform) -> None:
    key = make_key(platform, ["pricing:read"])
    statuses = [
        client.post("/v1/test/lean-echo", content=b"", headers={"X-API-Key": key}).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    limited = client.post("/v1/test/lean-echo", content=b"", headers={"X-API-Key": key})
    assert limited.json()["error"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1


def test_body_limit_still_applies(platform: Platform) -> None:
    small = platform.settings.model_copy(update={"max_body_bytes": 8})
    tight = build_platform(small)
    try:
        key = make_key(tight, ["pricing:read"])
        with TestClient(create_app(tight, routers=[router])) as client:
            response = client.post(
                "/v1/test/lean-echo", content=b"y" * 9, headers={"X-API-Key": key}
            )
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
    finally:
        tight.close()


def test_metrics_and_docs_name_the_route(client: TestClient, platform: Platform) -> None:
    key = make_key(platform, ["pricing:read"])
    client.post("/v1/test/lean-echo", content=b"a", headers={"X-API-Key": key})
    rendered = metrics.render()[0].decode()
    assert 'route="/v1/test/lean-echo"' in rendered
    operation = client.get("/openapi.json").json()["paths"]["/v1/test/lean-echo"]["post"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/Echo")
    assert operation["summary"] == "Lean Echo"


def test_collect_finds_lean_routes_in_nested_routers() -> None:
    outer = APIRouter()
    outer.include_router(router, prefix="/nested")
    app_routes = APIRouter()
    app_routes.include_router(outer)
    table = collect_lean_routes(app_routes.routes)
    assert ("POST", "/nested/v1/test/lean-echo") in table
    assert ("POST", "/v1/ping") not in table


def test_templated_paths_are_refused() -> None:
    with pytest.raises(ValueError, match="fixed paths"):
        lean_route(APIRouter(), "GET", "/v1/items/{item_id}")
