"""Lean endpoints: hot routes answered without FastAPI's per-request machinery.

On every request FastAPI walks its route tree, solves the dependency graph and runs the answer
through its response handling; for a small hot endpoint that costs more than the endpoint's own
work. A lean endpoint is ``async def endpoint(request, key) -> Response`` registered with
:func:`lean_route`. It is served two ways from one implementation:

- ``LeanDispatchMiddleware`` (inside the request-context and body-limit middleware, so request
  ids, metrics, the access log and the body limit still apply) answers an exact
  ``(method, path)`` match with a dictionary lookup: it authenticates the key with the same
  ``authenticate`` every route uses (not for a :func:`public_lean_route`, whose endpoint checks
  its request itself), checks the scope, calls the endpoint and renders any
  ``DomainError`` (``ApiError`` included) in the one JSON error shape;
- it is also an ordinary FastAPI route, so OpenAPI documents it (pass ``response_model``,
  ``responses`` and ``openapi_extra`` as to ``router.api_route``), and it keeps answering the
  same way if the dispatch is off (``create_app(..., lean=False)``).

Endpoints read their own body (``await request.body()``) and validate it themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ssmas.core.api.auth import authenticate, check_scope, require_scope
from ssmas.core.api.errors import ApiError, DomainError, error_response, status_code_name
from ssmas.core.api.middleware import BodyTooLarge
from ssmas.core.security.keys import ApiKeyRecord

__all__ = [
    "LeanDispatchMiddleware",
    "LeanEndpoint",
    "PublicEndpoint",
    "collect_lean_routes",
    "lean_route",
    "public_lean_route",
]

LeanEndpoint = Callable[[Request, ApiKeyRecord], Awaitable[Response]]
PublicEndpoint = Callable[[Request], Awaitable[Response]]
_LEAN_ATTRIBUTE = "__ssmas_lean__"


class _Lean:
    """What the dispatcher needs to serve one endpoint: its handler (authentication included)
    and, once collected, its FastAPI route (for metrics and logs)."""

    __slots__ = ("handle", "route")

    def __init__(self, handle: PublicEndpoint) -> None:
        self.handle = handle
        self.route: APIRoute | None = None  # set when collected, for metrics and logs

    async def __call__(self, request: Request) -> Response:
        return await self.handle(request)


def lean_route(
    router: APIRouter,
    method: str,
    path: str,
    *,
    scope: str | None = None,
    **route_kwargs: Any,
) -> Callable[[LeanEndpoint], LeanEndpoint]:
    """Register ``endpoint`` on ``router`` as a documented FastAPI route and a lean route.

    ``scope`` is the API-key scope required (any valid key when None). ``path`` must be a
    fixed path (no ``{parameters}``): the dispatcher matches it exactly.
    """
    _fixed(path)
    # require_scope refuses a malformed scope here, at definition time.
    dependency = require_scope(scope) if scope is not None else authenticate

    def register(endpoint: LeanEndpoint) -> LeanEndpoint:
        async def via_fastapi(request: Request, key: ApiKeyRecord = Depends(dependency)) -> Any:
            return await endpoint(request, key)

        async def handle(request: Request) -> Response:
            key = await authenticate(request)
            if scope is not None:
                check_scope(key, scope)
            return await endpoint(request, key)

        _register(router, method, path, endpoint, via_fastapi, handle, route_kwargs)
        return endpoint

    return register


def public_lean_route(
    router: APIRouter, method: str, path: str, **route_kwargs: Any
) -> Callable[[PublicEndpoint], PublicEndpoint]:
    """``lean_route`` for an endpoint that takes no API key because it authenticates the
    request itself (a webhook signed by its sender): ``async def endpoint(request)``."""
    _fixed(path)

    def register(endpoint: PublicEndpoint) -> PublicEndpoint:
        async def via_fastapi(request: Request) -> Any:
            return await endpoint(request)

        _register(router, method, path, endpoint, via_fastapi, endpoint, route_kwargs)
        return endpoint

    return register


def _fixed(path: str) -> None:
    if "{" in path:
        raise ValueError(f"lean routes take fixed paths, not templates: {path!r}")


def _register(
    router: APIRouter,
    method: str,
    path: str,
    endpoint: Callable[..., Any],
    via_fastapi: Callable[..., Any],
    handle: PublicEndpoint,
    route_kwargs: dict[str, Any],
) -> None:
    via_fastapi.__name__ = endpoint.__name__
    via_fastapi.__doc__ = endpoint.__doc__
    setattr(via_fastapi, _LEAN_ATTRIBUTE, _Lean(handle))
    router.add_api_route(path, via_fastapi, methods=[method.upper()], **route_kwargs)


def _walk(routes: Iterable[Any], prefix: str) -> Iterable[tuple[str, APIRoute]]:
    for route in routes:
        nested = getattr(route, "original_router", None)
        if isinstance(nested, APIRouter):
            context = getattr(route, "include_context", None)
            yield from _walk(nested.routes, prefix + str(getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            yield prefix, route


def collect_lean_routes(routes: Iterable[Any]) -> dict[tuple[str, str], _Lean]:
    """``(method, full path) → handler`` for every lean route in a route tree."""
    table: dict[tuple[str, str], _Lean] = {}
    for prefix, route in _walk(routes, ""):
        lean = getattr(route.endpoint, _LEAN_ATTRIBUTE, None)
        if isinstance(lean, _Lean):
            lean.route = route
            for method in route.methods or ():
                table[(method, prefix + route.path)] = lean
    return table


class LeanDispatchMiddleware:
    """Answer lean routes by exact ``(method, path)``; pass everything else to the app."""

    def __init__(self, app: ASGIApp, table: dict[tuple[str, str], _Lean]) -> None:
        self.app = app
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lean = self.table.get((scope.get("method", ""), scope.get("path", "")))
        if lean is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["route"] = lean.route
        request = Request(scope, receive, send)
        try:
            response = await lean(request)
        except DomainError as exc:
            headers = exc.headers if isinstance(exc, ApiError) else None
            response = error_response(request, exc.status, exc.code, exc.message, headers=headers)
        except StarletteHTTPException as exc:
            if isinstance(exc, BodyTooLarge):
                raise  # the body-limit middleware answers it
            code = status_code_name(exc.status_code)
            detail = exc.detail if isinstance(exc.detail, str) else code
            response = error_response(request, exc.status_code, code, detail, headers=exc.headers)
        await response(scope, receive, send)
