"""The OpenAPI document, completed so it tells the truth; the ``/docs`` page served without a CDN.

Authentication reads its headers directly (cheaper than FastAPI security dependencies), so the
schema is completed here: every operation whose dependencies include ``authenticate`` gets the
two accepted ways of sending a key, and ``/docs`` shows the Authorize button. Every status the
platform itself answers is documented with the one error body (``ErrorResponse``): 401 / 429 /
503 on authenticated operations, 403 where a scope is required, 422 where there is input to
validate, 400 (``invalid_json``) and 413 where there is a body; FastAPI's ``HTTPValidationError``
(a body the platform never sends) is replaced. JSON Schemas embedded by routes (``$defs`` of a
request body documented with ``openapi_extra``) are moved to ``components/schemas`` so that
every ``$ref`` resolves from the document's root.

``install_docs`` serves Swagger UI from the copy of npm's ``swagger-ui-dist`` kept in
``vendor/`` (licence beside it), so the page works offline; FastAPI's own ``/docs`` and
``/redoc`` load their scripts from a CDN and are turned off in ``create_app``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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

from ssmas.core.api.auth import SCOPE_ATTRIBUTE, authenticate
from ssmas.core.api.errors import ERROR_DESCRIPTIONS, ErrorResponse

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


def _uses(dependant: Dependant, wanted: Callable[[Any], bool]) -> bool:
    return any(wanted(dep.call) or _uses(dep, wanted) for dep in dependant.dependencies)


def _is_authenticate(call: Any) -> bool:
    return call is authenticate


def _is_scope_check(call: Any) -> bool:
    return isinstance(getattr(call, SCOPE_ATTRIBUTE, None), str)


def operations_using(app: FastAPI, wanted: Callable[[Any], bool]) -> set[tuple[str, str]]:
    """``(path, method)`` of every documented operation with a dependency ``wanted`` accepts."""
    # Newer FastAPI keeps included routers as wrappers and exposes the flattened, prefixed
    # routes through iter_route_contexts; older versions list APIRoutes in app.routes directly.
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    candidates: Iterable[Any] = iterate(app.routes) if callable(iterate) else app.routes
    found = set()
    for route in candidates:
        dependant = getattr(route, "dependant", None)
        path = getattr(route, "path_format", None)
        if isinstance(dependant, Dependant) and path and _uses(dependant, wanted):
            for method in getattr(route, "methods", None) or ():
                found.add((str(path), str(method).lower()))
    return found


def authenticated_operations(app: FastAPI) -> set[tuple[str, str]]:
    """``(path, method)`` of every documented operation that needs an API key."""
    return operations_using(app, _is_authenticate)


_REF_PREFIX = "#/components/schemas/"
_VALIDATION_REFS = {_REF_PREFIX + "HTTPValidationError", _REF_PREFIX + "ValidationError"}
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def _rewrite_refs(node: Any, renames: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in renames:
            node["$ref"] = renames[ref]
        for value in node.values():
            _rewrite_refs(value, renames)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, renames)


def hoist_defs(node: Any, components: dict[str, Any]) -> None:
    """Move every embedded ``$defs`` under ``node`` into ``components`` (the document's
    ``components/schemas``), pointing its ``#/$defs/...`` references there; a name already
    taken by a different schema gets a numbered one."""
    if isinstance(node, list):
        for value in node:
            hoist_defs(value, components)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        hoist_defs(value, components)  # inner blocks first: their refs are rewritten in place
    defs = node.pop("$defs", None)
    if not isinstance(defs, dict):
        return
    renames = {}
    for name, definition in defs.items():
        final, n = name, 1
        while final in components and components[final] != definition:
            n += 1
            final = f"{name}{n}"
        renames[f"#/$defs/{name}"] = _REF_PREFIX + final
    _rewrite_refs(node, renames)
    _rewrite_refs(defs, renames)
    for name, definition in defs.items():
        components[renames[f"#/$defs/{name}"].removeprefix(_REF_PREFIX)] = definition


def _error_response(status: int, ref: str) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS.get(status, "error"),
        "content": {"application/json": {"schema": {"$ref": ref}}},
    }


def document_errors(
    schema: dict[str, Any],
    authenticated: set[tuple[str, str]],
    scoped: set[tuple[str, str]],
) -> None:
    """Document the platform's own error answers on every operation (see the module doc)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    hoist_defs(schema.get("paths", {}), components)
    model_schema = ErrorResponse.model_json_schema(ref_template=_REF_PREFIX + "{model}")
    hoist_defs(model_schema, components)
    components[ErrorResponse.__name__] = model_schema
    ref = _REF_PREFIX + ErrorResponse.__name__
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            statuses: set[int] = set()
            if operation.get("parameters"):
                statuses.add(422)
            if "requestBody" in operation:
                statuses |= {400, 413, 422}
            if (path, method) in authenticated:
                statuses |= {401, 429, 503}
            if (path, method) in scoped:
                statuses.add(403)
            responses = operation.setdefault("responses", {})
            for key, answer in list(responses.items()):
                if _refers_to(answer, _VALIDATION_REFS):
                    responses[key] = _error_response(int(key), ref)
                elif _refers_to(answer, {ref}):
                    # FastAPI files extra responses under the route's media type (text/plain
                    # for a text route); errors are always JSON.
                    answer["content"] = {"application/json": {"schema": {"$ref": ref}}}
            for status in sorted(statuses):
                responses.setdefault(str(status), _error_response(status, ref))
    if not _refers_to(schema, _VALIDATION_REFS):
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)


def _refers_to(node: Any, refs: set[str]) -> bool:
    if isinstance(node, dict):
        if node.get("$ref") in refs:
            return True
        return any(_refers_to(value, refs) for key, value in node.items() if key != "schemas")
    if isinstance(node, list):
        return any(_refers_to(value, refs) for value in node)
    return False


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a generator that adds the API-key security schemes and
    documents the platform's error answers."""

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
            authenticated = authenticated_operations(app)
            for path, method in authenticated:
                operation = schema["paths"].get(path, {}).get(method)
                if operation is not None:
                    operation["security"] = requirement
            document_errors(schema, authenticated, operations_using(app, _is_scope_check))
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
