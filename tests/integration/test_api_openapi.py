"""The OpenAPI document tells the truth (issue 12, item 7): it validates, every ``$ref`` resolves
from its root, and each operation documents the error statuses the platform answers with, in
the one error shape (``ErrorResponse`` with ``ErrorDetail``s)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from ssmas.bootstrap import create_app
from ssmas.settings import Settings

ERROR_REF = "#/components/schemas/ErrorResponse"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    schema: dict[str, Any] = create_app(settings=Settings(profile="test")).openapi()
    return schema


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_the_document_validates_and_every_reference_resolves(document: dict[str, Any]) -> None:
    validate(document)
    refs = [node["$ref"] for node in _walk(document) if isinstance(node.get("$ref"), str)]
    assert refs
    for ref in refs:
        _resolve(document, ref)
    assert not [node for node in _walk(document) if "$defs" in node]
    for name in ("PredictRequest", "FloorRequest", "Outcome", "ErrorResponse", "ErrorDetail"):
        assert name in document["components"]["schemas"], name
    assert "HTTPValidationError" not in document["components"]["schemas"]


def _statuses(document: dict[str, Any], path: str, method: str) -> set[int]:
    responses = document["paths"][path][method]["responses"]
    for status, answer in responses.items():
        if status.startswith(("4", "5")):
            assert answer["content"] == {"application/json": {"schema": {"$ref": ERROR_REF}}}, (
                path,
                method,
                status,
            )
    return {int(status) for status in responses}


@pytest.mark.parametrize(
    ("path", "method", "expected", "absent"),
    [
        ("/health", "get", {200}, {401, 403}),
        ("/ready", "get", {200, 503}, {401}),
        ("/v1/ping", "get", {200, 401, 429}, {403}),
        (
            "/assistant/conversations/{conversation_id}",
            "get",
            {200, 401, 403, 404, 422, 429},
            {409},
        ),
        (
            "/assistant/conversations/{conversation_id}/takeover",
            "post",
            {200, 400, 401, 403, 404, 409, 413, 422, 429},
            set(),
        ),
        ("/assistant/handoffs", "get", {200, 401, 403, 429}, {404}),
        ("/whatsapp/webhook", "get", {200, 403}, {401}),
        ("/whatsapp/webhook", "post", {200, 400, 403, 413}, {401}),
        ("/v2/predict", "post", {200, 400, 401, 403, 413, 415, 422, 429}, set()),
        ("/v2/monitoring/drift", "get", {200, 401, 403, 422, 429}, set()),
    ],
)
def test_operations_document_the_statuses_they_answer(
    document: dict[str, Any], path: str, method: str, expected: set[int], absent: set[int]
) -> None:
    statuses = _statuses(document, path, method)
    assert expected <= statuses, expected - statuses
    assert not absent & statuses


def test_validation_errors_have_the_documented_detail_shape(settings: Settings) -> None:
    with TestClient(create_app(settings=settings)) as client:
        body = client.get("/dashboard/assistant/conversations/0").json()
    assert body["error"] == "validation_error" and body["request_id"]
    for detail in body["details"]:
        assert set(detail) >= {"field", "message"}
        assert detail["field"] == "conversation_id" and detail["message"]
