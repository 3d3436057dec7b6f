"""The campaigns product's domain errors: each a 4xx with a stable code.

``NotFound`` (another tenant's row is not found either), ``Conflict`` (a slug taken, a campaign
launched) and ``InvalidInput`` (an unknown tenant, a template variable no lead has) are the shared
core's; the ones only campaigns raise are defined here.
"""

from __future__ import annotations

import math

from ssmas.core.api.errors import ApiError, Conflict, DomainError, InvalidInput, NotFound

__all__ = [
    "Conflict",
    "InvalidInput",
    "NotFound",
    "QuotaExceeded",
    "SendingUnavailable",
]


class QuotaExceeded(ApiError):
    """A tenant's quota is used up: 429 with ``Retry-After`` (``retry_after_s`` rounded up)."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        wait = str(max(1, math.ceil(retry_after_s)))
        super().__init__(429, "quota_exceeded", message, headers={"Retry-After": wait})


class SendingUnavailable(DomainError):
    """No campaign sender is configured in this process."""

    code = "sending_unavailable"
    status = 503
