"""Bad input always gets a JSON 4xx in one shape; only a genuine bug reaches the 500 handler."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from ssmas.bootstrap import create_app
from ssmas.core.api import DomainError
from ssmas.core.api.errors import Conflict, Forbidden, InvalidInput, NotFound
from ssmas.core.logging import configure_logging
from ssmas.core.platform import Platform, build_platform
from ssmas.settings import Settings

MAX_BODY = 2048


class FloorTooLow(DomainError):
    code = "floor_too_low"
    status = 409


class Bid(BaseModel):
    slot: str = Field(min_length=1)
    price_eur: float = Field(gt=0)
    tags: list[str] = []


router = APIRouter()


@router.post("/v1/test/bids")
async def place_bid(bid: Bid) -> dict[str, float]:
    if bid.price_eur < 0.5:
        raise FloorTooLow(message=f"price {bid.price_eur} is under the floor 0.5")
    return {"accepted": bid.price_eur}


@router.get("/v1/test/items/{item_id}")
async def read_item(item_id: int) -> dict[str, int]:
    return {"item": item_id}


SHARED_ERRORS: dict[str, type[DomainError]] = {
    "not-found": NotFound,
    "conflict": Conflict,
    "invalid": InvalidInput,
    "forbidden": Forbidden,
}


@router.get("/v1/test/shared/{kind}")
async def shared_error(kind: str, code: str | None = None) -> None:
    raise SHARED_ERRORS[kind](code, f"{kind} happened")


@router.get("/v1/test/bug")
async def buggy() -> None:
    raise RuntimeError("secret internal detail")


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    built = build_platform(settings.model_copy(update={"max_body_bytes": MAX_BODY}))
    yield built
    built.close()


@pytest.fixture()
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, routers=[router])) as test_client:
        yield test_client


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    return dict(body)


def test_valid_request_passes(client: TestClient) -> None:
    response = client.post("/v1/test/bids", json={"slot": "top", "price_eur": 1.5})
    assert response.status_code == 200
    assert response.json() == {"accepted": 1.5}


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"slot": "top", "price_eur": ', b"\xff\xfe\x00garbage"],
    ids=["broken", "truncated", "binary"],
)
def test_malformed_json_is_400(client: TestClient, content: bytes) -> None:
    response = client.post(
        "/v1/test/bids", content=content, headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "invalid_json")


def test_wrong_types_are_422_with_field_details_and_no_echo(client: TestClient) -> None:
    response = client.post(
        "/v1/test/bids",
        json={"slot": "", "price_eur": "PRIVATE-VALUE-123", "tags": "x"},
    )
    body = assert_error(response, 422, "validation_error")
    details = body["details"]
    assert isinstance(details, list)
    locations = {tuple(d["loc"]) for d in details}
    assert {("body", "slot"), ("body", "price_eur"), ("body", "tags")} <= locations
    assert "PRIVATE-VALUE-123" not in response.text  # submitted values are not echoed back
    assert "body.price_eur" in str(body["message"])


def test_missing_body_and_bad_path_param_are_422(client: TestClient) -> None:
    assert_error(client.post("/v1/test/bids"), 422, "validation_error")
    assert_error(client.post("/v1/test/bids", json=[1, 2]), 422, "validation_error")
    body = assert_error(client.get("/v1/test/items/abc"), 422, "validation_error")
    details = body["details"]
    assert isinstance(details, list)
    assert ["path", "item_id"] in [d["loc"] for d in details]


def test_domain_error_maps_to_its_status_and_code(client: TestClient) -> None:
    response = client.post("/v1/test/bids", json={"slot": "top", "price_eur": 0.1})
    body = assert_error(response, 409, "floor_too_low")
    assert "under the floor" in str(body["message"])


@pytest.mark.parametrize(
    ("kind", "status", "default_code"),
    [
        ("not-found", 404, "not_found"),
        ("conflict", 409, "conflict"),
        ("invalid", 422, "invalid_input"),
        ("forbidden", 403, "forbidden"),
    ],
)
def test_shared_domain_errors_keep_their_status_with_a_products_code(
    client: TestClient, kind: str, status: int, default_code: str
) -> None:
    body = assert_error(client.get(f"/v1/test/shared/{kind}"), status, default_code)
    assert body["message"] == f"{kind} happened"
    assert_error(
        client.get(f"/v1/test/shared/{kind}?code=rule_not_found"), status, "rule_not_found"
    )


def test_declared_oversized_body_is_413(client: TestClient) -> None:
    payload = {"slot": "top", "price_eur": 1.0, "tags": ["x" * 100] * 40}
    assert_error(client.post("/v1/test/bids", json=payload), 413, "payload_too_large")


def test_streamed_oversized_body_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"slot": "top", "price_eur": 1.0, "tags": ['
        for _ in range(100):
            yield b'"' + b"y" * 60 + b'",'
        yield b'"end"]}'

    # A generator body is sent chunked: no Content-Length for the early check to use.
    response = client.post(
        "/v1/test/bids", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")


def test_bad_content_length_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/test/bids",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": "abc"},
    )
    assert_error(response, 400, "bad_request")


def test_unknown_route_is_404_and_wrong_method_405(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing/here"), 404, "not_found")
    assert_error(client.delete("/v1/test/bids"), 405, "method_not_allowed")


@pytest.fixture()
def json_logs(settings: Settings) -> Iterator[io.StringIO]:
    """Route every log line of the test into a buffer, then restore the defaults."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    yield stream
    structlog.reset_defaults()
    root.handlers[:], root.level = saved


def test_unexpected_exception_is_500_json_and_logged(
    client: TestClient, json_logs: io.StringIO
) -> None:
    body = assert_error(client.get("/v1/test/bug"), 500, "internal_error")
    assert "secret internal detail" not in str(body)
    assert "Traceback" not in str(body)
    events = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    crash = next(e for e in events if e["event"] == "unhandled_error")
    assert crash["request_id"] == body["request_id"]
    assert crash["route"] == "/v1/test/bug"
    assert "secret internal detail" in crash["exception"]


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = client.get("/health", headers={"X-Request-ID": "abc-123.x"})
    assert given.headers["x-request-id"] == "abc-123.x"
    unsafe = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    assert len(unsafe.headers["x-request-id"]) == 32
    fresh = {client.get("/health").headers["x-request-id"] for _ in range(3)}
    assert len(fresh) == 3
    error = client.get("/nope", headers={"X-Request-ID": "trace-42"})
    assert error.json()["request_id"] == "trace-42"
