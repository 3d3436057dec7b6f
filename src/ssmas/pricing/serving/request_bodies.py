"""JSON request bodies of the pricing API, parsed straight from bytes into pydantic models.

``read_json`` skips FastAPI's body machinery (one ``validate_json`` in Rust instead of
``json.loads`` then validation) and turns every problem into the platform's error shape:
415 for a body that is not JSON, 400 for an empty or malformed body, 422 with one sentence per
field for a body that breaks the contract (``hour_of_day must be between 0 and 23 (got 24)``).
:class:`JsonBody` adds the hot routes' fast path: a ``msgspec`` decoder tried first, the pydantic
adapter deciding every body the fast decoder refuses (see ``ssmas.pricing.serving.fast_requests``).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from ssmas.core.api import error_response
from ssmas.pricing.schemas import INVALID_REQUEST, ErrorDetail, error_details

T = TypeVar("T")
_OBJECT_TYPES = {"model_type", "dict_type", "model_attributes_type"}


class BodyRejected(Exception):
    """A request body the endpoint refuses; ``response`` renders the 4xx answer."""

    def __init__(
        self, status: int, code: str, message: str, details: list[ErrorDetail] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []

    def response(self, request: Request) -> JSONResponse:
        return error_response(
            request,
            self.status,
            self.code,
            self.message,
            details=[d.model_dump() for d in self.details],
        )


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # curl -d without -H: take it as JSON, the parser decides
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def reject_validation(exc: ValidationError, *, expected: str) -> BodyRejected:
    """The 400 / 422 for a pydantic error raised while reading a body of type ``expected``."""
    errors = exc.errors(include_url=False)
    if any(e.get("type") == "json_invalid" for e in errors):
        return BodyRejected(400, "invalid_json", "request body is not valid JSON")
    if any(not e.get("loc") and e.get("type") in _OBJECT_TYPES for e in errors):
        return BodyRejected(422, INVALID_REQUEST, f"request body must be {expected}")
    details = error_details(exc)
    message = "; ".join(d.message for d in details[:5]) or "invalid request"
    if len(details) > 5:
        message += f"; and {len(details) - 5} more problems"
    return BodyRejected(422, INVALID_REQUEST, message, details)


async def read_json(request: Request, adapter: TypeAdapter[T], *, expected: str) -> T:
    """The validated body; raises :class:`BodyRejected` with the reason otherwise."""
    if not _is_json(request.headers.get("content-type")):
        raise BodyRejected(415, "unsupported_media_type", "send the body as application/json")
    body = await request.body()
    if not body.strip():
        raise BodyRejected(400, "empty_body", f"request body is empty: send {expected}")
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        raise reject_validation(exc, expected=expected) from None


class JsonBody(Generic[T]):
    """How a hot route reads its body: ``fast`` first, ``adapter`` for anything it refuses.

    ``root`` unwraps a pydantic ``RootModel`` (batches) so both paths return the same shape.
    """

    def __init__(
        self,
        adapter: TypeAdapter[Any],
        *,
        expected: str,
        fast: msgspec.json.Decoder[Any] | None = None,
        root: bool = False,
    ) -> None:
        self.adapter = adapter
        self.expected = expected
        self.fast = fast
        self.root = root
        self.refused = 0  # bodies the fast decoder handed to pydantic

    def parse(self, body: bytes) -> T:
        """The validated value of a non-empty body; :class:`BodyRejected` otherwise."""
        if self.fast is not None:
            try:
                return self.fast.decode(body)  # type: ignore[no-any-return]
            except (msgspec.MsgspecError, ValueError, RecursionError):
                self.refused += 1  # pydantic decides (and words) every refusal
        try:
            value = self.adapter.validate_json(body)
        except ValidationError as exc:
            raise reject_validation(exc, expected=self.expected) from None
        return value.root if self.root else value  # type: ignore[no-any-return]

    async def read(self, request: Request) -> T:
        """Check the media type, read the body, :meth:`parse` it."""
        if not _is_json(request.headers.get("content-type")):
            raise BodyRejected(415, "unsupported_media_type", "send the body as application/json")
        body = await request.body()
        if not body.strip():
            raise BodyRejected(400, "empty_body", f"request body is empty: send {self.expected}")
        return self.parse(body)


def validate_object(adapter: TypeAdapter[T], data: Any, *, expected: str) -> T:
    """Validate an already-decoded value the same way (query or form input)."""
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise reject_validation(exc, expected=expected) from None


def body_doc(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body read with :func:`read_json`."""
    schema = adapter.json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
