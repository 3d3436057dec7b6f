"""JSON request bodies read as a dependency, so authentication comes first.

FastAPI reads and parses a route's body parameter before it solves any dependency: a bad body
sent without a key got 400 ``invalid_json`` instead of 401. A route that declares
``body: Annotated[Model, Depends(json_body(Model))]`` after its key dependency reads the body
only once the key is checked; errors keep the platform's shape (400 ``invalid_json``, 422 with
one detail per field, under ``body``). ``openapi_extra=json_body_doc(Model)`` documents it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError

__all__ = ["json_body", "json_body_doc"]

M = TypeVar("M", bound=BaseModel)


def json_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency giving the request's JSON body validated as ``model``."""

    async def read_body(request: Request) -> M:
        raw = await request.body()
        try:
            return model.model_validate_json(raw or b"null")
        except ValidationError as exc:
            errors = [
                {"loc": ("body", *err["loc"]), "type": err["type"], "msg": err["msg"]}
                for err in exc.errors(include_url=False)
            ]
            raise RequestValidationError(errors) from None

    read_body.__name__ = f"json_body_{model.__name__}"
    return read_body


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a required JSON body of ``model``."""
    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
