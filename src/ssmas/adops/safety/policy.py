"""The safety policy the agents act under, and the errors its checks raise."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ssmas.adops.tools.base import RISK_RANK, Risk

Mode = Literal["active", "shadow"]


class SafetyError(ValueError):
    """An action or a decision the safety layer refuses (the message says why)."""


class NotAnApprover(SafetyError):
    """The person deciding an approval is not one of the policy's named approvers."""


class ApprovalClosed(SafetyError):
    """The approval was already decided, has expired or was executed: it cannot be used again."""


class ApprovalNotFound(SafetyError):
    """No approval request has that id."""


class SafetyPolicy(BaseModel):
    """What the agents may do on their own.

    * ``mode``: ``shadow`` proposes and logs every action and changes nothing (the seed's
      ``AgentMode: testing``); ``active`` acts.
    * ``approval_at``: actions at or above this risk wait for a named approver unless
      ``auto_approve_high_risk``; a request not decided within ``approval_ttl`` expires (denied).
    * ``cooldown`` between two actions on one target, at most ``max_per_target_per_hour`` on a
      target and ``max_per_hour`` in all.
    * blast radius (the share of the exchange's revenue an action puts at stake): above
      ``high_risk_blast`` an action counts as high risk, above ``max_blast_radius`` it is refused.
    * ``verify_after``: minutes of metrics after an action before it is judged; an action that
      did not bring its metric back is rolled back.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "active"
    approvers: tuple[str, ...] = ()
    approval_at: Risk = "high"
    auto_approve_high_risk: bool = False
    approval_ttl: timedelta = timedelta(minutes=15)
    cooldown: timedelta = timedelta(minutes=10)
    max_per_target_per_hour: int = Field(default=3, ge=1)
    max_per_hour: int = Field(default=30, ge=1)
    high_risk_blast: float = Field(default=0.25, ge=0.0, le=1.0)
    max_blast_radius: float = Field(default=0.6, ge=0.0, le=1.0)
    verify_after: timedelta = timedelta(minutes=4)

    def effective_risk(self, base: Risk, blast_radius: float) -> Risk:
        if blast_radius >= self.high_risk_blast:
            return "high"
        return base

    def needs_approval(self, risk: Risk) -> bool:
        if RISK_RANK[risk] < RISK_RANK[self.approval_at]:
            return False
        return not (risk == "high" and self.auto_approve_high_risk)
