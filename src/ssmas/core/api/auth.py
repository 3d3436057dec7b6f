"""API-key authentication, per-key rate limiting and scope checks as FastAPI dependencies.

A key comes in ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. ``KeyVerifier`` checks it
against the database and remembers the answer for a short TTL (keyed by the key's SHA-256), so
the hot path costs no database round trip. A key revoked anywhere is announced on the bus and
every API process drops it from its cache at once (``ssmas.core.security.revocation``); the TTL
only bounds how long a missed announcement (a bus outage) could keep it working.
Every authenticated request then takes a token from the key's bucket (429 + ``Retry-After`` when
empty). Failed authentications take a token from the client address's bucket
(:class:`FailedAuthGuard`): once it is empty the address is refused (429 + ``Retry-After``)
before any key is checked, valid or not, until the bucket refills. Routes declare
``key: ApiKeyDep`` or ``Depends(require_scope("pricing:read"))``.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from ssmas.core.api.errors import ApiError
from ssmas.core.db import UnitOfWork
from ssmas.core.ratelimit import RateLimiter
from ssmas.core.security.keys import ApiKeyRecord, has_scope, validate_scopes, verify_api_key

__all__ = [
    "SCOPE_ATTRIBUTE",
    "ApiKeyDep",
    "FailedAuthGuard",
    "KeyVerifier",
    "authenticate",
    "check_scope",
    "require_scope",
]

MAX_KEY_LENGTH = 512
SCOPE_ATTRIBUTE = "__ssmas_scope__"
_log = structlog.get_logger(__name__)
_MISSING = object()


class KeyVerifier:
    """Verify raw API keys against the database, caching answers in-process.

    Valid keys are remembered for ``ttl_s``, unknown ones for ``negative_ttl_s`` (shorter, so a
    key created a moment ago is not refused for long); at most ``max_entries`` are kept.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        ttl_s: float = 30.0,
        negative_ttl_s: float = 2.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session_factory = session_factory
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, ApiKeyRecord | None]] = OrderedDict()
        # Prefixes announced revoked: a database read that raced the revocation must not put
        # the key back (a key is never un-revoked, so remembering them is always right).
        self._revoked: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    async def verify(self, raw: str) -> ApiKeyRecord | None:
        """The key's record if it is valid and unrevoked, else None."""
        digest = hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()
        cached = self._lookup(digest)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        record = await run_in_threadpool(self._verify_in_db, raw)
        return self._store(digest, record)

    def forget(self) -> None:
        """Drop every cached answer (after revoking a key, to make it take effect now)."""
        with self._lock:
            self._entries.clear()

    def forget_prefix(self, prefix: str) -> int:
        """Drop the cached answers for the key ``prefix`` (it was revoked); how many."""
        with self._lock:
            self._revoked[prefix] = None
            self._revoked.move_to_end(prefix)
            while len(self._revoked) > self._max_entries:
                self._revoked.popitem(last=False)
            stale = [
                digest
                for digest, (_until, record) in self._entries.items()
                if record is not None and record.prefix == prefix
            ]
            for digest in stale:
                del self._entries[digest]
        return len(stale)

    def _verify_in_db(self, raw: str) -> ApiKeyRecord | None:
        with UnitOfWork(self._session_factory) as uow:
            record = verify_api_key(uow.session, raw, touch=True)
            uow.commit()
        return record

    def _lookup(self, digest: str) -> object:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return _MISSING
            if entry[0] <= self._clock():
                del self._entries[digest]
                return _MISSING
            self._entries.move_to_end(digest)
            return entry[1]

    def _store(self, digest: str, record: ApiKeyRecord | None) -> ApiKeyRecord | None:
        """Remember the answer; one announced revoked meanwhile is remembered as refused."""
        with self._lock:
            if record is not None and record.prefix in self._revoked:
                record = None
            ttl = self._ttl_s if record is not None else self._negative_ttl_s
            self._entries[digest] = (self._clock() + ttl, record)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return record


class FailedAuthGuard:
    """Failed authentications counted per client address in a token bucket (``limiter``).

    ``failed(address)`` takes a token; when none is left the address is blocked (in this
    process) for as long as the bucket needs to refill one, and ``blocked(address)`` says for
    how long, so a guesser learns nothing more, not even from a right guess, until then.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter = limiter
        self._blocked: OrderedDict[str, float] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def blocked(self, address: str) -> float | None:
        """Seconds ``address`` stays refused, or None."""
        with self._lock:
            until = self._blocked.get(address)
            if until is None:
                return None
            left = until - self._clock()
            if left <= 0:
                del self._blocked[address]
                return None
            return left

    async def failed(self, address: str) -> float | None:
        """Count one failure of ``address``; the seconds it is now refused, or None."""
        decision = await self.limiter.hit(f"authfail:{address}")
        if decision.allowed:
            return None
        wait = max(decision.retry_after_s, 1.0)
        with self._lock:
            self._blocked[address] = self._clock() + wait
            self._blocked.move_to_end(address)
            while len(self._blocked) > self._max_entries:
                self._blocked.popitem(last=False)
        return wait

    async def close(self) -> None:
        await self.limiter.close()


def client_address(request: Request) -> str:
    """The peer's address (uvicorn puts a trusted proxy's X-Forwarded-For there)."""
    return request.client.host if request.client else "unknown"


def too_many_failures(wait_s: float) -> ApiError:
    """The 429 for an address that failed authentication too often."""
    return ApiError(
        429,
        "too_many_failed_authentications",
        "too many failed authentications from this address; retry later",
        headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
    )


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


def _raw_key(request: Request) -> str | None:
    # Read directly rather than through FastAPI security dependencies: each dependency costs
    # tens of microseconds per request; ssmas.core.api.openapi documents the schemes instead.
    headers = request.headers
    raw = headers.get("x-api-key")
    if raw:
        return raw
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


async def authenticate(request: Request) -> ApiKeyRecord:
    """The caller's key record; 401 when missing or invalid, 429 when over its rate limit."""
    raw = _raw_key(request)
    if not raw:
        if request.headers.get("authorization"):
            raise _unauthorized("invalid_api_key", "Authorization must be 'Bearer <api key>'")
        raise _unauthorized(
            "missing_api_key", "send an API key in 'X-API-Key' or 'Authorization: Bearer'"
        )
    guard: FailedAuthGuard | None = getattr(request.app.state, "auth_failures", None)
    address = client_address(request)
    if guard is not None and (wait := guard.blocked(address)) is not None:
        raise too_many_failures(wait)
    verifier: KeyVerifier = request.app.state.key_verifier
    try:
        record = await verifier.verify(raw) if len(raw) <= MAX_KEY_LENGTH else None
    except SQLAlchemyError as exc:
        _log.warning("api_key_check_failed", error=type(exc).__name__)
        raise ApiError(503, "unavailable", "the API key cannot be checked right now") from exc
    if record is None or record.revoked:
        if guard is not None and (wait := await guard.failed(address)) is not None:
            raise too_many_failures(wait)
        raise _unauthorized("invalid_api_key", "the API key is unknown, revoked or malformed")

    limiter: RateLimiter = request.app.state.rate_limiter
    rate, burst = _limit_of(request, record)
    decision = await limiter.hit(f"apikey:{record.id}", rate=rate, burst=burst)
    if not decision.allowed:
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {rate:g}/s (burst {burst}) exceeded for this key",
            headers={"Retry-After": decision.retry_after_header},
        )
    structlog.contextvars.bind_contextvars(api_key=record.prefix)
    return record


def _limit_of(request: Request, record: ApiKeyRecord) -> tuple[float, int]:
    """The key's (requests per s, burst): its tier's, else the limiter's default."""
    limiter: RateLimiter = request.app.state.rate_limiter
    if record.tier is None:
        return limiter.rate, limiter.burst
    tiers: dict[str, tuple[float, int]] = getattr(request.app.state, "rate_limit_tiers", {})
    return tiers.get(record.tier, (limiter.rate, limiter.burst))


ApiKeyDep = Annotated[ApiKeyRecord, Depends(authenticate)]
"""The authenticated caller's key (any scope)."""


def check_scope(key: ApiKeyRecord, scope: str) -> ApiKeyRecord:
    """``key`` if it grants ``scope``, else 403 (``ApiError``)."""
    if not has_scope(key, scope):
        raise ApiError(403, "forbidden", f"this API key lacks the scope {scope!r}")
    return key


def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, ApiKeyRecord]]:
    """A dependency giving the caller's key if it grants ``scope``, else 403.

    A malformed scope fails at definition time (``InvalidScopeError``), not per request.
    """
    validate_scopes([scope])

    async def key_with_scope(key: ApiKeyDep) -> ApiKeyRecord:
        return check_scope(key, scope)

    key_with_scope.__name__ = f"require_{scope.replace(':', '_').replace('*', 'all')}"
    setattr(key_with_scope, SCOPE_ATTRIBUTE, scope)  # OpenAPI documents its 403
    return key_with_scope
