"""Every API error as one JSON shape: ``{"error": code, "message": ..., "request_id": ...}``.

Products raise subclasses of ``DomainError`` (a code, a human message, a 4xx status) or the common
ones here (:class:`NotFound`, :class:`Conflict`, :class:`InvalidInput`, :class:`Forbidden`; a
product passes its own ``code`` where its clients rely on one); the app maps them,
Starlette/FastAPI HTTP errors and validation errors to that shape. Validation errors
keep their field details under ``"details"`` (each an :class:`ErrorDetail`: ``field`` and
``message``, plus pydantic's ``loc`` and ``type``) but never echo the submitted values back.
:class:`ErrorResponse` is the shape's OpenAPI model; routes document the errors they raise with
``responses=error_responses(404, 409)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "ApiError",
    "Conflict",
    "DomainError",
    "ErrorDetail",
    "ErrorResponse",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "error_response",
    "error_responses",
    "install_error_handlers",
    "status_code_name",
]

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    """One problem in a request: where (``field``, dotted) and what, in a sentence."""

    field: str
    message: str


class ErrorResponse(BaseModel):
    """Every 4xx / 5xx body: a stable ``error`` code, a ``message`` for people, the request id,
    and for invalid input one :class:`ErrorDetail` per problem."""

    error: str
    message: str
    request_id: str | None = None
    details: list[ErrorDetail] = Field(default_factory=list)


ERROR_DESCRIPTIONS = {
    400: "malformed request (e.g. ``invalid_json``)",
    401: "missing or invalid API key",
    403: "refused: the key lacks the scope, or the request is not allowed",
    404: "not found",
    409: "conflicts with the current state",
    413: "the body is too large",
    415: "the body is not JSON",
    422: "invalid input, one detail per problem",
    429: "rate limited (see Retry-After)",
    503: "a dependency is unavailable",
}


def error_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status answered with :class:`ErrorResponse`."""
    texts = {**ERROR_DESCRIPTIONS, **(descriptions or {})}
    return {
        status: {"model": ErrorResponse, "description": texts.get(status, status_code_name(status))}
        for status in statuses
    }


class DomainError(Exception):
    """A rule of the domain was broken; products subclass it (``class FloorTooLow(...)``).

    ``code`` is a stable machine-readable slug, ``message`` is for people, ``status`` the HTTP
    status the API answers with (a 4xx: the caller can fix it).
    """

    code: str = "domain_error"
    status: int = 400

    def __init__(self, code: str | None = None, message: str = "", status: int | None = None):
        self.code = code or type(self).code
        self.message = message or self.code.replace("_", " ")
        self.status = status if status is not None else type(self).status
        super().__init__(self.message)


class NotFound(DomainError):
    """No such thing (for this caller: another tenant's row is not found either)."""

    code = "not_found"
    status = 404


class Conflict(DomainError):
    """The request clashes with the current state (a name taken, an approval already closed)."""

    code = "conflict"
    status = 409


class InvalidInput(DomainError):
    """Input that parses but the domain refuses; the message names the field at fault."""

    code = "invalid_input"
    status = 422


class Forbidden(DomainError):
    """The key may call the route, but not do this (e.g. it is not an approver)."""

    code = "forbidden"
    status = 403


class ApiError(DomainError):
    """An error raised by the API layer itself (auth, limits), optionally with headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(code, message, status)
        self.headers = dict(headers or {})


def status_code_name(status: int) -> str:
    """The error code used for a bare HTTP status (``404`` → ``not_found``)."""
    if status in _CODES:
        return _CODES[status]
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _request_id(request: Request) -> str | None:
    rid = request.scope.get("state", {}).get("request_id")
    return rid if isinstance(rid, str) else None


def error_response(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The one error body shape; ``extra`` keys (e.g. ``details``) are added beside it."""
    body: dict[str, Any] = {"error": code, "message": message, "request_id": _request_id(request)}
    body.update(extra)
    return JSONResponse(body, status_code=status_code, headers=dict(headers or {}))


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        msg = str(err.get("msg", ""))
        details.append(
            {
                "field": ".".join(loc[1:] if loc[:1] in (["body"], ["query"], ["path"]) else loc),
                "message": msg,
                "loc": loc,
                "type": str(err.get("type", "")),
                "msg": msg,
            }
        )
    return details


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = exc.headers if isinstance(exc, ApiError) else None
    return error_response(request, exc.status, exc.code, exc.message, headers=headers)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(
        request,
        exc.status_code,
        status_code_name(exc.status_code),
        detail,
        headers=exc.headers,
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    if any(d["type"] == "json_invalid" for d in details):
        return error_response(
            request, 400, "invalid_json", "request body is not valid JSON", details=details
        )
    fields = sorted({".".join(d["loc"]) for d in details})
    return error_response(
        request,
        422,
        "validation_error",
        f"invalid input: {', '.join(fields)}" if fields else "invalid input",
        details=details,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app`` (500s are handled by the context middleware)."""
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
