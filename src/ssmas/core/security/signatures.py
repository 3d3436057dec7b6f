"""HMAC-SHA256 request signatures in the ``sha256=<hex>`` form (WhatsApp's X-Hub-Signature-256)."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_SCHEME = "sha256="


def sign_sha256(secret: bytes, body: bytes) -> str:
    """``"sha256=" + hex(HMAC-SHA256(secret, body))`` over the exact body bytes."""
    return SIGNATURE_SCHEME + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_sha256(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` signs ``body``; constant-time, False for a missing or malformed header."""
    if not header:
        return False
    value = header.strip()
    if value[: len(SIGNATURE_SCHEME)].lower() != SIGNATURE_SCHEME:
        return False
    given = value[len(SIGNATURE_SCHEME) :].lower().encode("utf-8", "replace")
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(given, expected)
