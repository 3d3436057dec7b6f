"""Request signatures: HMAC-SHA256 in the ``sha256=<hex>`` form (WhatsApp's X-Hub-Signature-256)
and Twilio's ``X-Twilio-Signature`` (HMAC-SHA1 over the URL and the sorted form parameters)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

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


def sign_twilio(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed by the auth token, of the full
    URL followed by each POST parameter's name and value, sorted by name, with no separators."""
    signed = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_twilio(auth_token: str, url: str, params: Mapping[str, str], header: str | None) -> bool:
    """Whether ``header`` is Twilio's signature of ``url`` and ``params``; constant-time."""
    if not header:
        return False
    expected = sign_twilio(auth_token, url, params).encode("ascii")
    return hmac.compare_digest(header.strip().encode("utf-8", "replace"), expected)
