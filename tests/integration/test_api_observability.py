"""Request metrics by route template and status, JSON request logs with ids and without bodies."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from fastapi import APIRouter
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from ssmas.bootstrap import create_app
from ssmas.core.logging import configure_logging
from ssmas.core.platform import Platform, build_platform
from ssmas.settings import Settings

router = APIRouter()


class Note(BaseModel):
    text: str


@router.get("/v1/obs/orders/{order_id}")
async def read_order(order_id: int) -> dict[str, int]:
    return {"order": order_id}


@router.post("/v1/obs/notes")
async def add_note(note: Note) -> dict[str, int]:
    return {"length": len(note.text)}


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    built = build_platform(settings)
    yield built
    built.close()


@pytest.fixture()
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, routers=[router])) as test_client:
        yield test_client


@pytest.fixture()
def json_logs(settings: Settings) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging(settings, stream=stream)
    yield stream
    structlog.reset_defaults()
    root.handlers[:], root.level = saved


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def count(found: dict, route: str, status: str) -> float:  # type: ignore[type-arg]
    labels = (("method", "GET"), ("route", route), ("status", status))
    return float(found.get(("ssmas_api_requests_total", labels), 0.0))


def test_requests_counted_by_route_template_and_status(client: TestClient) -> None:
    before = samples(client)
    for order_id in (1, 2, 3):
        assert client.get(f"/v1/obs/orders/{order_id}").status_code == 200
    assert client.get("/v1/obs/orders/x").status_code == 422
    assert client.get("/no/such/page").status_code == 404
    after = samples(client)

    template = "/v1/obs/orders/{order_id}"
    assert count(after, template, "200") - count(before, template, "200") == 3
    assert count(after, template, "422") - count(before, template, "422") == 1
    assert count(after, "unmatched", "404") - count(before, "unmatched", "404") >= 1
    assert not any("/v1/obs/orders/1" in str(key) for key in after)  # no raw paths as labels
    labels = (("method", "GET"), ("route", template), ("status", "200"))
    histogram = ("ssmas_api_request_duration_seconds_count", labels)
    assert after[histogram] >= 3


def test_docs_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/ping" in spec["paths"]
    assert "/ready" in spec["paths"]
    # Key-protected operations carry both ways of sending a key; public ones none.
    assert spec["paths"]["/v1/ping"]["get"]["security"] == [{"ApiKeyHeader": []}, {"BearerKey": []}]
    assert "security" not in spec["paths"]["/health"]["get"]
    assert set(spec["components"]["securitySchemes"]) == {"ApiKeyHeader", "BearerKey"}
    assert count(samples(client), "/openapi.json", "200") >= 1


def test_one_json_log_line_per_request_without_body(
    client: TestClient, json_logs: io.StringIO
) -> None:
    secret = "call me on +34 600 000 000"
    response = client.post("/v1/obs/notes", json={"text": secret}, headers={"X-Request-ID": "r-77"})
    assert response.status_code == 200
    bad = client.post("/v1/obs/notes", content=b"{oops " + secret.encode())
    assert bad.status_code in (400, 422)

    lines = json_logs.getvalue().splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert secret not in json_logs.getvalue()
    requests = [e for e in events if e["event"] == "request"]
    first = next(e for e in requests if e["request_id"] == "r-77")
    assert first["route"] == "/v1/obs/notes"
    assert first["status"] == 200
    assert first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert isinstance(first["duration_ms"], float)
