"""Signed dashboard session tokens: ``v1.<key prefix>.<expiry>.<HMAC-SHA256>``.

The token names the API key by its public prefix only (never the raw key) and carries an expiry
in Unix seconds; the signature is an HMAC-SHA256 under the platform's ``secret_key`` over both,
checked in constant time. A tampered, foreign or expired token reads as no session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE_NAME = "ssmas_session"
DEFAULT_TTL_S = 8 * 3600
_VERSION = "v1"


@dataclass(frozen=True)
class SessionClaims:
    """What a valid token says: which API key signed in, and until when."""

    key_prefix: str
    expires_at: int


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def _signature(secret: str, payload: str) -> str:
    # A dedicated context label keeps these MACs apart from any other use of the same secret.
    key = hashlib.sha256(b"ssmas.web.session|" + secret.encode()).digest()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def issue_token(
    secret: str,
    key_prefix: str,
    *,
    ttl_s: int = DEFAULT_TTL_S,
    clock: Callable[[], float] = time.time,
) -> str:
    """A token for ``key_prefix`` that is valid for ``ttl_s`` seconds from ``clock()``."""
    if not key_prefix:
        raise ValueError("key_prefix must not be empty")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    payload = f"{_VERSION}.{_b64(key_prefix)}.{int(clock()) + ttl_s}"
    return f"{payload}.{_signature(secret, payload)}"


def read_token(
    secret: str, token: str | None, *, clock: Callable[[], float] = time.time
) -> SessionClaims | None:
    """The claims of a genuine, unexpired token; None for anything else (never raises)."""
    if not token or len(token) > 1024:
        return None
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != _VERSION:
        return None
    payload, signature = ".".join(parts[:3]), parts[3]
    if not hmac.compare_digest(_signature(secret, payload).encode(), signature.encode()):
        return None
    try:
        prefix = _unb64(parts[1])
        expires_at = int(parts[2])
    except (ValueError, UnicodeDecodeError):
        return None
    if expires_at <= int(clock()) or not prefix:
        return None
    return SessionClaims(key_prefix=prefix, expires_at=expires_at)
