"""OpenAPI security for key-protected routes, and the ``/docs`` page served without a CDN.

Authentication reads its headers directly (cheaper than FastAPI security dependencies), so the
schema is completed here: every operation whose dependencies include ``authenticate`` gets the
two accepted ways of sending a key, and ``/docs`` shows the Authorize button.

``install_docs`` serves Swagger UI from the copy of npm's ``swagger-ui-dist`` kept in
``vendor/`` (licence beside it), so the page works offline; FastAPI's own ``/docs`` and
``/redoc`` load their scripts from a CDN and are turned off in ``create_app``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request

from ssmas.core.api.auth import authenticate

DOCS_URL = "/docs"
DOCS_ASSETS_URL = "/docs/assets"
DOCS_ASSETS_DIR = Path(__file__).resolve().parent / "vendor"
# Versioned names: a new swagger-ui-dist gets new URLs, so no browser keeps a stale copy.
SWAGGER_JS = "swagger-ui-bundle-5.36.0.js"
SWAGGER_CSS = "swagger-ui-5.36.0.css"
SWAGGER_FAVICON = "swagger-ui-favicon-32x32.png"

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


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` with its script, stylesheet and icon from the package.

    The app must be created with ``docs_url=None`` (FastAPI's page would load them from a CDN).
    Swagger UI's online validator badge is turned off too: nothing on the page leaves the host.
    """
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        assets = root + DOCS_ASSETS_URL
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - API docs",
            swagger_js_url=f"{assets}/{SWAGGER_JS}",
            swagger_css_url=f"{assets}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{assets}/{SWAGGER_FAVICON}",
            swagger_ui_parameters={"validatorUrl": None},
        )

    app.add_route(DOCS_URL, swagger_ui, include_in_schema=False)
