"""Pure ASGI middleware (no ``BaseHTTPMiddleware``: it costs a task and a queue per request).

``RequestContextMiddleware`` is the outermost layer: it assigns the request id, binds it into the
log context, echoes it as ``X-Request-ID``, records the request metrics by route template, logs
one line per request, adds the security headers every response carries
(:func:`with_security_headers`), and turns an unexpected exception into a 500 JSON body (logged,
no traceback to the client). ``BodyLimitMiddleware`` answers 413 when a body exceeds the limit,
judged by ``Content-Length`` first and by the bytes actually streamed in any case.
"""

from __future__ import annotations

import json
import os
import re
import time

import structlog
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ssmas.core import metrics

_log = structlog.get_logger(__name__)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_QUIET_ROUTES = frozenset({"/health", "/ready", "/metrics"})

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
"""Sent on every response that does not set its own (the dashboard sets stricter ones)."""
JSON_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def with_security_headers(
    headers: list[tuple[bytes, bytes]], scheme: str
) -> list[tuple[bytes, bytes]]:
    """``headers`` plus each of :data:`SECURITY_HEADERS` the response did not set itself; a
    JSON body also gets a CSP that allows nothing, and an HTTPS answer HSTS. HTML pages keep
    their own CSP (``/docs`` needs its scripts, the dashboard sets one)."""
    present = {name.lower(): value for name, value in headers}
    added = [header for header in SECURITY_HEADERS if header[0] not in present]
    if JSON_CSP[0] not in present and present.get(b"content-type", b"").startswith(
        (b"application/json", b"application/problem+json")
    ):
        added.append(JSON_CSP)
    if scheme in ("https", "wss") and HSTS[0] not in present:
        added.append(HSTS)
    return headers + added if added else headers


REQUESTS = metrics.counter(
    "api", "requests", "HTTP requests served", labels=("method", "route", "status")
)
DURATION = metrics.histogram(
    "api",
    "request_duration",
    "HTTP request latency from first byte in to last byte out",
    labels=("method", "route", "status"),
)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def route_template(scope: Scope, status: int = 200) -> str:
    """The matched route's path template (``/v1/items/{id}``), or ``unmatched``.

    FastAPI records its own routes in ``scope["route"]``; plain Starlette routes (docs, mounts)
    are matched again here, except for 404s, which match nothing by definition.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    if status != 404:
        for candidate in getattr(getattr(scope.get("app"), "router", None), "routes", ()):
            template = getattr(candidate, "path", None)
            if isinstance(template, str) and candidate.matches(scope)[0] is Match.FULL:
                return template
    return "unmatched"


def json_error(status: int, code: str, message: str, request_id: str | None) -> list[Message]:
    """ASGI messages for an error body sent straight from middleware (id header added later)."""
    body = json.dumps({"error": code, "message": message, "request_id": request_id}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]


class RequestContextMiddleware:
    """Request id, log context, metrics, access log line and last-resort 500 handling."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        text = incoming.decode("latin-1") if incoming else ""
        request_id = text if _VALID_REQUEST_ID.match(text) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        rid_header = (b"x-request-id", request_id.encode())
        scheme = str(scope.get("scheme", "http"))
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = with_security_headers(list(message.get("headers", ())), scheme)
                headers.append(rid_header)
                message["headers"] = headers
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = 500
            _log.exception("unhandled_error", method=scope["method"], route=route_template(scope))
            if not response_started:
                for message in json_error(500, "internal_error", "internal error", request_id):
                    await send_with_id(message)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            structlog.contextvars.reset_contextvars(**tokens)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = route_template(scope, status)
        labels = (scope["method"], route, str(status))
        children = self._children.get(labels)
        if children is None:
            # labels() takes a lock and builds keys; routes x statuses is small, so keep them.
            children = (REQUESTS.labels(*labels), DURATION.labels(*labels))
            self._children[labels] = children
        children[0].inc()
        children[1].observe(elapsed)
        log = _log.debug if route in _QUIET_ROUTES else _log.info
        log(
            "request",
            method=scope["method"],
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 3),
        )


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once the streamed body passes the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes")


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413 JSON."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        declared = _header(scope, b"content-length")
        if declared is not None:
            refusal = self._check_declared(declared)
            if refusal is not None:
                for message in json_error(*refusal, request_id):
                    await send(message)
                return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:
            # Reached only when the body was read outside a route's error handling.
            if response_started:
                raise
            for message in json_error(413, "payload_too_large", str(exc.detail), request_id):
                await send(message)

    def _check_declared(self, declared: bytes) -> tuple[int, str, str] | None:
        try:
            length = int(declared)
        except ValueError:
            return 400, "bad_request", "Content-Length is not an integer"
        if length < 0:
            return 400, "bad_request", "Content-Length is negative"
        if length > self.max_bytes:
            return 413, "payload_too_large", f"request body exceeds {self.max_bytes} bytes"
        return None
