"""The AdOps safety layer: policy, approvals, cooldowns and rate limits, blast radius,
verify-after-action with automatic rollback, shadow mode, and the audit trail (the core's
append-only audit log, entries prefixed ``adops.``)."""

from __future__ import annotations

from ssmas.adops.safety.executor import (
    Outcome,
    SafeExecutor,
    Verify,
    adops_audit,
    decide,
    list_actions,
    list_approvals,
)
from ssmas.adops.safety.policy import (
    ApprovalClosed,
    ApprovalNotFound,
    NotAnApprover,
    SafetyError,
    SafetyPolicy,
)

__all__ = [
    "ApprovalClosed",
    "ApprovalNotFound",
    "NotAnApprover",
    "Outcome",
    "SafeExecutor",
    "SafetyError",
    "SafetyPolicy",
    "Verify",
    "adops_audit",
    "decide",
    "list_actions",
    "list_approvals",
]
