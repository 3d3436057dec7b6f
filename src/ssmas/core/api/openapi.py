"""OpenAPI security for key-protected routes, so ``/docs`` shows the Authorize button.

Authentication reads its headers directly (cheaper than FastAPI security dependencies), so the
schema is completed here: every operation whose dependencies include ``authenticate`` gets the
two accepted ways of sending a key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi

from ssmas.core.api.auth import authenticate

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "BearerKey": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
}


def _uses_authentication(dependant: Dependant) -> bool:
    return any(
        dep.call is authenticate or _uses_authentication(dep) for dep in dependant.dependencies
    )


def authenticated_operations(app: FastAPI) -> set[tuple[str, str]]:
    """``(path, method)`` of every documented operation that needs an API key."""
    # Newer FastAPI keeps included routers as wrappers and exposes the flattened, prefixed
    # routes through iter_route_contexts; older versions list APIRoutes in app.routes directly.
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    candidates: Iterable[Any] = iterate(app.routes) if callable(iterate) else app.routes
    found = set()
    for route in candidates:
        dependant = getattr(route, "dependant", None)
        path = getattr(route, "path_format", None)
        if isinstance(dependant, Dependant) and path and _uses_authentication(dependant):
            for method in getattr(route, "methods", None) or ():
                found.add((str(path), str(method).lower()))
    return found


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a generator that adds the API-key security schemes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            requirement: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]
            for path, method in authenticated_operations(app):
                operation = schema["paths"].get(path, {}).get(method)
                if operation is not None:
                    operation["security"] = requirement
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
