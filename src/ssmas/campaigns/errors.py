"""The campaigns product's domain errors: each a 4xx with a stable code."""

from __future__ import annotations

import math

from ssmas.core.api.errors import ApiError, DomainError

__all__ = [
    "CampaignsError",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "QuotaExceeded",
    "SendingUnavailable",
]


class CampaignsError(DomainError):
    """Base of the campaigns errors."""

    code = "campaigns_error"
    status = 400


class NotFound(CampaignsError):
    """No such row for this tenant (another tenant's row is not found either)."""

    code = "not_found"
    status = 404


class Conflict(CampaignsError):
    """The request clashes with the current state (a slug taken, a campaign launched)."""

    code = "conflict"
    status = 409


class InvalidInput(CampaignsError):
    """Input the domain refuses (an unknown tenant, a template variable no lead has)."""

    code = "invalid_input"
    status = 422


class QuotaExceeded(ApiError):
    """A tenant's quota is used up: 429 with ``Retry-After`` (``retry_after_s`` rounded up)."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        wait = str(max(1, math.ceil(retry_after_s)))
        super().__init__(429, "quota_exceeded", message, headers={"Retry-After": wait})


class SendingUnavailable(CampaignsError):
    """No campaign sender is configured in this process."""

    code = "sending_unavailable"
    status = 503
