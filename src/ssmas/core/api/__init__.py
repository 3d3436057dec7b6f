"""The HTTP API: app factory, authentication dependencies, error types and platform endpoints.

Products name their ``APIRouter`` in their ``Product`` (``ssmas.core.product``), protect routes with
``Depends(require_scope("pricing:read"))`` (or ``key: ApiKeyDep``), reach the platform through
``PlatformDep`` and raise ``DomainError`` subclasses for 4xx answers.
"""

from __future__ import annotations

from ssmas.core.api.app import create_app, load_product_routers
from ssmas.core.api.auth import ApiKeyDep, KeyVerifier, authenticate, require_scope
from ssmas.core.api.deps import PlatformDep, SettingsDep, get_platform
from ssmas.core.api.errors import ApiError, DomainError, error_response

__all__ = [
    "ApiError",
    "ApiKeyDep",
    "DomainError",
    "KeyVerifier",
    "PlatformDep",
    "SettingsDep",
    "authenticate",
    "create_app",
    "error_response",
    "get_platform",
    "load_product_routers",
    "require_scope",
]
