"""Security primitives: API keys and scopes, HMAC signatures, PII encryption, the audit log."""

from __future__ import annotations

from ssmas.core.security.audit import AuditRecord, list_audit, record_audit
from ssmas.core.security.keys import (
    ApiKeyRecord,
    InvalidScopeError,
    create_api_key,
    has_scope,
    list_api_keys,
    parse_api_key,
    revoke_api_key,
    scopes_grant,
    validate_scopes,
    verify_api_key,
)
from ssmas.core.security.pii import (
    PiiCipher,
    PiiDecryptError,
    PiiKeyError,
    pii_cipher_from_settings,
)
from ssmas.core.security.signatures import (
    sign_sha256,
    sign_twilio,
    verify_sha256,
    verify_twilio,
)

__all__ = [
    "ApiKeyRecord",
    "AuditRecord",
    "InvalidScopeError",
    "PiiCipher",
    "PiiDecryptError",
    "PiiKeyError",
    "create_api_key",
    "has_scope",
    "list_api_keys",
    "list_audit",
    "parse_api_key",
    "pii_cipher_from_settings",
    "record_audit",
    "revoke_api_key",
    "scopes_grant",
    "sign_sha256",
    "sign_twilio",
    "validate_scopes",
    "verify_api_key",
    "verify_sha256",
    "verify_twilio",
]
