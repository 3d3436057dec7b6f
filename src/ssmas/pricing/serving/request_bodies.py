"""JSON request bodies of the pricing API, parsed straight from bytes into pydantic models.

``read_json`` skips FastAPI's body machinery (one ``validate_json`` in Rust instead of
``json.loads`` then validation) and turns every problem into the platform's error shape:
415 for a body that is not JSON, 400 for an empty or malformed body, 422 with one sentence per
field for a body that breaks the contract (``hour_of_day must be between 0 and 23 (got 24)``).
:class:`JsonBody` adds the hot routes' fast path: a ``msgspec`` decoder tried first, the pydantic
adapter deciding every body the fast decoder refuses (see ``ssmas.pricing.serving.fast_requests``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from ssmas.core.api import error_response
from ssmas.pricing.schemas import (
    INVALID_REQUEST,
    MAX_BATCH,
    ErrorDetail,
    RowError,
    error_details,
)

T = TypeVar("T")
_OBJECT_TYPES = {"model_type", "dict_type", "model_attributes_type"}


class BodyRejected(Exception):
    """A request body the endpoint refuses; ``response`` renders the 4xx answer."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[ErrorDetail] | None = None,
        *,
        errors: list[RowError] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.errors = errors  # a batch's per-row errors, when no row of it is valid

    def response(self, request: Request) -> JSONResponse:
        extra: dict[str, Any] = {}
        if self.errors is not None:
            extra["errors"] = [e.model_dump() for e in self.errors]
        return error_response(
            request,
            self.status,
            self.code,
            self.message,
            details=[d.model_dump() for d in self.details],
            **extra,
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


class _IdOnly(msgspec.Struct, gc=False):
    impression_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None


_ID_ONLY = msgspec.json.Decoder(_IdOnly)
_RAW_ROWS = msgspec.json.Decoder(list[msgspec.Raw])


def _impression_id(raw: bytes) -> str | None:
    """The row's ``impression_id`` when it is an object carrying a valid one, else None."""
    try:
        return _ID_ONLY.decode(raw).impression_id
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None


@dataclass(slots=True)
class BatchRows(Generic[T]):
    """A batch read row by row: the valid rows with their positions, and one error per other."""

    rows: Sequence[T]
    positions: list[int] | None = None  # None: every row is valid (row i at position i)
    errors: list[RowError] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.rows) + len(self.errors)


class RowsBody(JsonBody[BatchRows[T]]):
    """A batch body judged row by row (seed 003's batch: one error per invalid row, the valid
    rows priced).

    The whole body must be a JSON array of 1 to 1000 items (else the batch's 400 / 422, as
    ``whole`` answers it); each item is then read as ``row`` reads a single request (``msgspec``
    first, pydantic deciding and wording every refusal). A batch with no valid row is refused
    with 400: the error envelope, a detail per problem (``[row].field``) and the per-row errors.
    """

    def __init__(self, whole: JsonBody[Sequence[T]], row: JsonBody[T]) -> None:
        super().__init__(whole.adapter, expected=whole.expected)
        self.whole = whole
        self.row = row

    def parse(self, body: bytes) -> BatchRows[T]:
        if self.whole.fast is not None:
            try:  # the usual batch: every row valid, decoded in one go
                return BatchRows(self.whole.fast.decode(body))
            except (msgspec.MsgspecError, ValueError, RecursionError):
                self.refused += 1
        try:
            raws = _RAW_ROWS.decode(body)
        except (msgspec.MsgspecError, ValueError, RecursionError):
            raws = None
        if raws is None or not 1 <= len(raws) <= MAX_BATCH:
            # Not an array msgspec reads, or a size out of bounds: the whole-batch contract
            # decides (it refuses with the batch's reason, or accepts every row).
            return BatchRows(self.whole.parse(body))
        rows: list[T] = []
        positions: list[int] = []
        errors: list[RowError] = []
        for i, item in enumerate(raws):
            raw = bytes(item)
            try:
                rows.append(self.row.parse(raw))
                positions.append(i)
            except BodyRejected as rejected:
                errors.append(
                    RowError(
                        impression_id=_impression_id(raw),
                        error=rejected.message,
                        index=i,
                        details=rejected.details,
                    )
                )
        if not rows:
            details = [
                ErrorDetail(
                    field=f"[{e.index}]" + (f".{d.field}" if d.field else ""), message=d.message
                )
                for e in errors
                for d in e.details or [ErrorDetail(field="", message=e.error)]
            ]
            first = errors[0].error
            message = f"no row of the batch is valid (row 0: {first})"
            if len(errors) > 1:
                message += f"; and {len(errors) - 1} more invalid rows"
            raise BodyRejected(400, INVALID_REQUEST, message, details, errors=errors)
        return BatchRows(rows, positions if errors else None, errors)


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
