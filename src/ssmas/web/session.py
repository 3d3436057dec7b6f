"""The dashboard session cookie: ``v2.<session id>.<HMAC-SHA256>``.

The session id is random and stands for a row the server keeps
(:mod:`ssmas.core.security.sessions`): the key, and an expiry the server fixed at sign-in. The
cookie says nothing else, so no one can claim a key or a lifetime with it. The HMAC under the
platform secret lets a forged or altered cookie be refused before any database lookup; checked
in constant time. Tokens of the old ``v1`` form (key prefix and expiry, signed only) read as no
session whatever their signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re

COOKIE_NAME = "ssmas_session"
_VERSION = "v2"
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


def _signature(secret: str, payload: str) -> str:
    # A dedicated context label keeps these MACs apart from any other use of the same secret.
    key = hashlib.sha256(b"ssmas.web.session|" + secret.encode()).digest()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def issue_token(secret: str, session_id: str) -> str:
    """The cookie value carrying ``session_id``, signed under ``secret``."""
    if not secret:
        raise ValueError("no platform secret to sign the session with")
    if not _SESSION_ID.match(session_id):
        raise ValueError("a session id is 32-128 url-safe characters")
    payload = f"{_VERSION}.{session_id}"
    return f"{payload}.{_signature(secret, payload)}"


def read_token(secret: str, token: str | None) -> str | None:
    """The session id of a genuine token; None for anything else (never raises).

    Whether that session is still live is the server's answer, not the token's.
    """
    if not secret or not token or len(token) > 1024:
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION or not _SESSION_ID.match(parts[1]):
        return None
    payload, signature = f"{parts[0]}.{parts[1]}", parts[2]
    if not hmac.compare_digest(_signature(secret, payload).encode(), signature.encode()):
        return None
    return parts[1]
