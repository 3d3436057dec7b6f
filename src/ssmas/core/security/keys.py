"""API keys: ``ssmas_<prefix>_<secret>``, stored as the SHA-256 of the secret only.

The prefix is public (it finds the row and shows in listings); the secret is 32 random bytes,
so a fast hash is enough and a leaked table reveals no usable key. Scopes are strings such as
``"admin"``, ``"pricing:read"``, ``"pricing:*"`` or ``"*"``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from ssmas.core.db.base import utcnow
from ssmas.core.db.models import ApiKey
from ssmas.core.db.repository import ApiKeyRepository
from ssmas.core.security.sessions import end_key_sessions

KEY_NAMESPACE = "ssmas"
PREFIX_LENGTH = 8
SECRET_BYTES = 32  # token_urlsafe(32) gives 43 characters
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_KEY_RE = re.compile(rf"^{KEY_NAMESPACE}_([a-z0-9]{{{PREFIX_LENGTH}}})_([A-Za-z0-9_-]{{32,128}})$")
_SCOPE_PART = r"[a-z][a-z0-9_.-]*"
_SCOPE_RE = re.compile(rf"^(\*|{_SCOPE_PART}(:({_SCOPE_PART}|\*))?)$")
ALL_SCOPES = frozenset({"*", "admin"})
# last_used_at is refreshed at most this often, so verification rarely writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class InvalidScopeError(ValueError):
    """A scope string that is not ``*``, ``name`` or ``name:action`` (lower case)."""


class ApiKeyRecord(BaseModel):
    """What callers see of a key: never the secret nor its hash."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked: bool
    last_used_at: datetime | None = None
    tier: str | None = None  # names the key's rate limit (settings.rate_limit_tiers)

    @classmethod
    def from_row(cls, row: ApiKey) -> ApiKeyRecord:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            scopes=list(row.scopes),
            created_at=row.created_at,
            revoked=row.revoked,
            last_used_at=row.last_used_at,
            tier=row.tier,
        )


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, stripped and de-duplicated in order; raises InvalidScopeError on a bad one."""
    cleaned: list[str] = []
    for scope in scopes:
        value = scope.strip()
        if not _SCOPE_RE.match(value):
            raise InvalidScopeError(
                f"invalid scope {scope!r}: use '*', 'admin', 'name' or 'name:action' "
                "(lower case, e.g. 'pricing:read' or 'pricing:*')"
            )
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


def parse_api_key(raw: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a well-formed key, else None."""
    match = _KEY_RE.match(raw.strip()) if raw else None
    return (match.group(1), match.group(2)) if match else None


def create_api_key(
    session: Session,
    name: str,
    scopes: Iterable[str],
    *,
    now: datetime | None = None,
    tier: str | None = None,
) -> tuple[str, ApiKeyRecord]:
    """Create a key; returns the raw key (shown once, never stored) and its record.

    ``tier`` names its rate limit (``settings.rate_limit_tiers``; none: the default limit).
    The row is flushed into ``session``; the caller commits.
    """
    clean_scopes = validate_scopes(scopes)
    if not name.strip():
        raise ValueError("an API key needs a non-empty name")
    if tier is not None and not 0 < len(tier.strip()) <= 32:
        raise ValueError("a key's tier is 1 to 32 characters")
    repo = ApiKeyRepository(session)
    while True:
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
        if repo.get_by_prefix(prefix) is None:
            break
    secret = secrets.token_urlsafe(SECRET_BYTES)
    row = repo.add(
        ApiKey(
            name=name.strip(),
            prefix=prefix,
            secret_hash=hash_secret(secret),
            scopes=clean_scopes,
            tier=tier.strip() if tier is not None else None,
            created_at=now or utcnow(),
        )
    )
    return f"{KEY_NAMESPACE}_{prefix}_{secret}", ApiKeyRecord.from_row(row)


def verify_api_key(
    session: Session, raw: str | None, *, touch: bool = False, now: datetime | None = None
) -> ApiKeyRecord | None:
    """The record of a valid, unrevoked key; None for malformed, unknown, revoked or wrong keys.

    With ``touch=True`` the key's ``last_used_at`` is refreshed (at most once a minute) in
    ``session``; the caller commits. By default verification only reads.
    """
    parsed = parse_api_key(raw) if raw else None
    if parsed is None:
        return None
    prefix, secret = parsed
    row = ApiKeyRepository(session).get_by_prefix(prefix)
    if row is None or row.revoked:
        return None
    if not hmac.compare_digest(hash_secret(secret), row.secret_hash):
        return None
    if touch:
        moment = now or utcnow()
        if row.last_used_at is None or moment - row.last_used_at >= LAST_USED_RESOLUTION:
            row.last_used_at = moment
            session.flush()
    return ApiKeyRecord.from_row(row)


def revoke_api_key(session: Session, prefix: str, *, now: datetime | None = None) -> bool:
    """Revoke the key with ``prefix`` and end its dashboard sessions; False if there is none.

    The caller commits, then announces it (:mod:`ssmas.core.security.revocation`) so other
    processes drop the key from their verification caches at once.
    """
    repo = ApiKeyRepository(session)
    if not repo.revoke(prefix.strip(), at=now):
        return False
    row = repo.get_by_prefix(prefix.strip())
    if row is not None:
        end_key_sessions(session, row.id)
    return True


def list_api_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKeyRecord]:
    """Every key (oldest first) as records."""
    rows = ApiKeyRepository(session).list(include_revoked=include_revoked)
    return [ApiKeyRecord.from_row(row) for row in rows]


# Actions that imply others on the same resource: ``pricing:admin`` grants ``pricing:read`` and
# ``pricing:write`` too (``write`` does not grant ``read``).
IMPLIED_ACTIONS: dict[str, frozenset[str]] = {"admin": frozenset({"read", "write"})}


def scopes_grant(scopes: Iterable[str], scope: str) -> bool:
    """Whether a key holding ``scopes`` may do ``scope`` (the one rule, API and dashboard).

    The lattice: ``*`` and ``admin`` grant everything; ``pricing:*`` or bare ``pricing`` grant
    every ``pricing:<action>``; ``pricing:admin`` grants ``pricing:read`` and
    ``pricing:write`` (:data:`IMPLIED_ACTIONS`); otherwise the scope must match exactly.
    """
    granted = set(scopes)
    if granted & ALL_SCOPES or scope in granted:
        return True
    resource, sep, action = scope.partition(":")
    if not sep:
        return False
    if f"{resource}:*" in granted or resource in granted:
        return True
    return any(
        action in implied and f"{resource}:{higher}" in granted
        for higher, implied in IMPLIED_ACTIONS.items()
    )


def has_scope(record: ApiKeyRecord, scope: str) -> bool:
    """Whether ``record`` grants ``scope`` (:func:`scopes_grant`); revoked keys grant nothing."""
    return not record.revoked and scopes_grant(record.scopes, scope)
