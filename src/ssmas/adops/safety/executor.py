"""Every tool call of the agents goes through here: checks, approvals, apply, verify, undo.

``SafeExecutor.propose`` takes a remediation: unknown tools and invalid arguments are refused
before anything is recorded; a repeated call (same incident, tool and arguments: the
idempotency key) returns the first one's action; then shadow mode records the proposal and
stops; blast radius, cooldown and rate limits may refuse it; a risk at the policy's bar opens an
approval request for a named approver; otherwise the change is written to the control plane with
its undo. ``verify`` judges an applied action on the metric it was meant to fix and applies the
undo when the metric did not come back. Every decision is appended to the core's audit log
(``ssmas.core.security.audit``) in the transaction that makes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ssmas.adops.agents.tables import AgentActionRow, ApprovalRow
from ssmas.adops.safety.policy import (
    ApprovalClosed,
    ApprovalNotFound,
    NotAnApprover,
    SafetyError,
    SafetyPolicy,
)
from ssmas.adops.tools.base import (
    ToolContext,
    ToolError,
    ToolOutput,
    get_tool,
    idempotency_key,
    undo_of,
)
from ssmas.adops.tools.remediation import NotifyPartner
from ssmas.core.security.audit import list_audit, record_audit
from ssmas.exchange.knobs import ControlPlaneError

AUDIT_PREFIX = "adops."


@dataclass(frozen=True)
class Verify:
    """What an action is judged on: a metric of an entity, its baseline and its value before."""

    entity_type: str
    entity_id: str
    metric: str
    baseline: float
    before: float
    lower_is_better: bool

    def badness(self, value: float) -> float:
        return (value - self.baseline) if self.lower_is_better else (self.baseline - value)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "metric": self.metric,
            "baseline": self.baseline,
            "before": self.before,
            "lower_is_better": self.lower_is_better,
        }


@dataclass(frozen=True)
class Outcome:
    """What became of a proposed action."""

    status: str  # shadow | refused | awaiting_approval | applied | sent | duplicate | ...
    action_id: int | None
    message: str
    approval_id: str | None = None


class SafeExecutor:
    """The agents' only way to the control plane; ``clock`` is the exchange's time."""

    def __init__(
        self,
        engine: sa.Engine,
        ctx: ToolContext,
        policy: SafetyPolicy,
        *,
        clock: Callable[[], datetime] | None = None,
        approval_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.ctx = ctx
        self.policy = policy
        self.clock = clock or ctx.clock
        # Approvals are decided by people: on the live exchange their expiry runs on the wall
        # clock while actions and verification follow the exchange's (faster) simulated time.
        self.approval_clock = approval_clock or self.clock

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def audit(
        self, session: Session, actor: str, action: str, target: str, details: dict[str, Any]
    ) -> None:
        record_audit(
            session,
            actor=actor,
            action=AUDIT_PREFIX + action,
            target=target,
            details=details,
            at=self.clock(),
        )

    # ---- diagnostics -----------------------------------------------------------------
    def diagnose(
        self, incident_id: str, agent: str, tool_name: str, args: Mapping[str, Any] | None = None
    ) -> ToolOutput:
        tool = get_tool(tool_name)
        if tool.kind != "diagnostic":
            raise ToolError(f"{tool_name} is a remediation: propose it, do not diagnose with it")
        parsed = tool.parse(args)
        output = tool.run(self.ctx, parsed)
        with self.session() as session:
            self.audit(
                session,
                f"agent:{agent}",
                "diagnose",
                incident_id,
                {
                    "tool": tool_name,
                    "args": parsed.model_dump(mode="json"),
                    "summary": output.summary,
                },
            )
        return output

    # ---- remediations ------------------------------------------------------------------
    def propose(
        self,
        incident_id: str,
        agent: str,
        tool_name: str,
        args: Mapping[str, Any] | None,
        *,
        verify: Verify | None,
        reason: str,
    ) -> Outcome:
        tool = get_tool(tool_name)  # UnknownTool: nothing recorded
        if tool.kind != "remediation":
            raise ToolError(f"{tool_name} is a diagnostic tool: it has no action to take")
        parsed = tool.parse(args)  # InvalidArguments: nothing recorded
        plain = parsed.model_dump(mode="json")
        key = idempotency_key(incident_id, tool_name, plain)
        change = tool.change(self.ctx, parsed)  # ToolError (unknown entity): nothing recorded
        blast = tool.blast_radius(self.ctx, parsed)
        risk = self.policy.effective_risk(tool.risk, blast)
        target = tool.target(parsed)
        now = self.clock()
        actor = f"agent:{agent}"
        with self.session() as session:
            found = session.scalars(
                sa.select(AgentActionRow).where(AgentActionRow.idempotency_key == key)
            ).first()
            if found is not None:
                return Outcome(
                    "duplicate", found.action_id, f"already {found.status}", found.approval_id
                )
            row = AgentActionRow(
                idempotency_key=key,
                incident_id=incident_id,
                agent=agent,
                tool=tool_name,
                args=plain,
                target=target,
                risk=risk,
                blast_radius=round(blast, 4),
                mode=self.policy.mode,
                status="proposed",
                change=change,
                undo={},
                verify=verify.as_dict() if verify else {},
                created_at=now,
            )
            session.add(row)
            session.flush()
            details = {
                "action_id": row.action_id,
                "tool": tool_name,
                "args": plain,
                "risk": risk,
                "blast_radius": row.blast_radius,
                "change": change,
                "reason": reason,
            }
            if self.policy.mode == "shadow":
                row.status = "shadow"
                self.audit(session, actor, "shadow", incident_id, details)
                return Outcome("shadow", row.action_id, "shadow mode: proposed, not applied")
            refusal = self._refusal(session, row, blast, now)
            if refusal:
                row.status = "refused"
                self.audit(session, actor, "refused", incident_id, {**details, "why": refusal})
                return Outcome("refused", row.action_id, refusal)
            if self.policy.needs_approval(risk):  # type: ignore[arg-type]
                approval = ApprovalRow(
                    approval_id=f"apr-{uuid.uuid4().hex[:16]}",
                    action_id=row.action_id,
                    incident_id=incident_id,
                    tool=tool_name,
                    args=plain,
                    risk=risk,
                    summary=f"{tool_name} {plain}: {reason}"[:2000],
                    state="pending",
                    requested_by=actor,
                    requested_at=self.approval_clock(),
                    expires_at=self.approval_clock() + self.policy.approval_ttl,
                    note="",
                )
                session.add(approval)
                row.status = "awaiting_approval"
                row.approval_id = approval.approval_id
                self.audit(
                    session,
                    actor,
                    "approval.requested",
                    incident_id,
                    {**details, "approval_id": approval.approval_id},
                )
                return Outcome(
                    "awaiting_approval",
                    row.action_id,
                    f"{risk} risk: waiting for an approver until {approval.expires_at:%H:%M}",
                    approval.approval_id,
                )
            row.status = "applying"
            action_id = row.action_id
        # the control plane is written outside this transaction (on SQLite a second writer
        # would wait for this one): the row says "applying" until the write is recorded
        return self._apply(action_id, actor, details)

    def _refusal(
        self, session: Session, row: AgentActionRow, blast: float, now: datetime
    ) -> str | None:
        if blast > self.policy.max_blast_radius:
            return f"blast radius {blast:.0%} over the limit of {self.policy.max_blast_radius:.0%}"
        done = ("applied", "verified", "rolled_back", "sent")
        recent = session.scalars(
            sa.select(AgentActionRow).where(
                AgentActionRow.created_at >= now - timedelta(hours=1),
                AgentActionRow.status.in_(done),
                AgentActionRow.mode == "active",
            )
        ).all()
        if len(recent) >= self.policy.max_per_hour:
            return f"rate limit: {len(recent)} actions in the last hour"
        same = [r for r in recent if r.target == row.target]
        if len(same) >= self.policy.max_per_target_per_hour:
            return f"rate limit: {len(same)} actions on {row.target} in the last hour"
        last = max((r.applied_at or r.created_at for r in same), default=None)
        if last is not None and now - last < self.policy.cooldown:
            return f"cooldown: {row.target} was acted on at {last:%H:%M}"
        return None

    def _apply(self, action_id: int, actor: str, details: dict[str, Any]) -> Outcome:
        """Write an action's change to the control plane, then record it (two transactions)."""
        with self.session() as session:
            row = session.get(AgentActionRow, action_id)
            if row is None:
                raise SafetyError(f"no action {action_id}")
            tool_name, args, incident_id = row.tool, dict(row.args), row.incident_id
        tool = get_tool(tool_name)
        parsed = tool.parse(args)
        now = self.clock()
        result: dict[str, Any]
        if isinstance(tool, NotifyPartner):
            tool.send(self.ctx, parsed)
            result = {"status": "sent"}
        else:
            try:
                change = tool.change(self.ctx, parsed)  # on the knobs as they are now
                undo = undo_of(self.ctx, change)
                before = self.ctx.plane.current().version
                version = tool.apply(
                    self.ctx, change, actor=actor, reason=f"{incident_id}: {tool_name}"
                )
                result = {
                    "status": "applied",
                    "change": change,
                    "undo": undo,
                    "before": before,
                    "after": version,
                }
            except (ToolError, ControlPlaneError) as exc:
                result = {"status": "failed", "error": str(exc)}
        with self.session() as session:
            row = session.get(AgentActionRow, action_id)
            assert row is not None
            row.status = result["status"]
            if result["status"] == "failed":
                self.audit(
                    session, actor, "failed", incident_id, {**details, "error": result["error"]}
                )
                return Outcome("failed", action_id, result["error"])
            row.applied_at = now
            if result["status"] == "sent":
                self.audit(session, actor, "apply", incident_id, {**details, "sent": True})
                return Outcome("sent", action_id, "partner notified")
            row.change, row.undo = result["change"], result["undo"]
            row.version_before, row.version_after = result["before"], result["after"]
            self.audit(
                session,
                actor,
                "apply",
                incident_id,
                {**details, "undo": result["undo"], "version": result["after"]},
            )
        return Outcome("applied", action_id, f"applied as control-plane v{result['after']}")

    # ---- approvals ---------------------------------------------------------------------
    def _approval(self, session: Session, approval_id: str) -> ApprovalRow:
        row = session.get(ApprovalRow, approval_id)
        if row is None:
            raise ApprovalNotFound(f"no approval {approval_id!r}")
        return row

    def decide(
        self, approval_id: str, approver: str, *, approve: bool, note: str = ""
    ) -> dict[str, Any]:
        """A named approver allows or denies a request; anyone else, an expired request or a
        second decision on the same request is refused (and audited)."""
        return decide(
            self.engine,
            self.policy,
            approval_id,
            approver,
            approve=approve,
            note=note,
            clock=self.clock,
        )

    def expire_due(self) -> list[str]:
        """Requests past their expiry become ``expired`` (a denial)."""
        now = self.approval_clock()
        with self.session() as session:
            rows = session.scalars(
                sa.select(ApprovalRow).where(
                    ApprovalRow.state == "pending", ApprovalRow.expires_at <= now
                )
            ).all()
            for row in rows:
                row.state, row.decided_at, row.decided_by = "expired", now, "timeout"
                action = session.get(AgentActionRow, row.action_id)
                if action is not None:
                    action.status = "expired"
                self.audit(
                    session,
                    "timeout",
                    "approval.expired",
                    row.incident_id,
                    {"approval_id": row.approval_id, "tool": row.tool},
                )
            return [r.approval_id for r in rows]

    def run_approved(self) -> list[AgentActionRow]:
        """Apply the actions whose approval was granted (once: the approval is then closed)."""
        todo: list[tuple[int, str, dict[str, Any]]] = []
        with self.session() as session:
            rows = session.scalars(
                sa.select(ApprovalRow).where(ApprovalRow.state == "approved")
            ).all()
            for approval in rows:
                action = session.get(AgentActionRow, approval.action_id)
                approval.state = "executed"
                if action is None or action.status != "awaiting_approval":
                    continue
                action.status = "applying"
                details = {
                    "action_id": action.action_id,
                    "tool": action.tool,
                    "args": action.args,
                    "risk": action.risk,
                    "approval_id": approval.approval_id,
                    "approved_by": approval.decided_by,
                }
                todo.append((action.action_id, f"agent:{action.agent}", details))
        for action_id, actor, details in todo:
            self._apply(action_id, actor, details)
        with self.session() as session:
            return [
                row
                for action_id, _, _ in todo
                if (row := session.get(AgentActionRow, action_id)) is not None
            ]

    # ---- verification ------------------------------------------------------------------
    def due(self) -> list[AgentActionRow]:
        cutoff = self.clock() - self.policy.verify_after
        with self.session() as session:
            return list(
                session.scalars(
                    sa.select(AgentActionRow).where(
                        AgentActionRow.status == "applied", AgentActionRow.applied_at <= cutoff
                    )
                )
            )

    def verify(self, action_id: int) -> str:
        """``verified`` when the metric came back, else the undo is applied: ``rolled_back``."""
        with self.session() as session:
            row = session.get(AgentActionRow, action_id)
            if row is None or row.status != "applied" or row.applied_at is None:
                raise SafetyError(f"action {action_id} is not waiting for verification")
            if not row.verify:
                row.status, row.verified_at = "verified", self.clock()
                return row.status
            spec = Verify(**row.verify)
            start = row.applied_at + timedelta(minutes=1)
            values = self.ctx.metrics.values(
                spec.entity_type,
                spec.entity_id,
                spec.metric,
                start,
                self.clock() + timedelta(minutes=1),
            )
            after = sum(values) / len(values) if values else spec.before
            bad_before, bad_after = spec.badness(spec.before), spec.badness(after)
            tol = 0.05 * abs(spec.baseline) + 1e-3
            recovered = bad_after <= 0.35 * max(bad_before, 0.0) + tol
            verdict = {
                "metric": spec.metric,
                "entity": f"{spec.entity_type}/{spec.entity_id}",
                "baseline": round(spec.baseline, 4),
                "before": round(spec.before, 4),
                "after": round(after, 4),
                "worse": bad_after > bad_before + tol,
            }
            if recovered:
                row.status, row.verified_at = "verified", self.clock()
                row.verify = {**row.verify, "after": after}
                self.audit(
                    session,
                    f"agent:{row.agent}",
                    "verify",
                    row.incident_id,
                    {"action_id": row.action_id, **verdict, "recovered": True},
                )
                return row.status
            row.status = "rolling_back"
            undo, actor = dict(row.undo), f"agent:{row.agent}"
            reason = f"{row.incident_id}: undo {row.tool}"
            tool = get_tool(row.tool)
        error = None
        try:
            if undo:  # outside the transaction, as for applying; by the tool's own way
                tool.apply(self.ctx, undo, actor=actor, reason=reason)
        except (ToolError, ControlPlaneError) as exc:
            error = str(exc)
        with self.session() as session:
            row = session.get(AgentActionRow, action_id)
            assert row is not None
            self._undo(session, row, verdict, error)
            return row.status

    def _undo(
        self, session: Session, row: AgentActionRow, verdict: dict[str, Any], error: str | None
    ) -> None:
        actor = f"agent:{row.agent}"
        if error is not None:
            self.audit(
                session,
                actor,
                "rollback.failed",
                row.incident_id,
                {"action_id": row.action_id, "error": error},
            )
            row.status = "failed"
            return
        row.status, row.verified_at = "rolled_back", self.clock()
        row.verify = {**row.verify, "after": verdict["after"]}
        self.audit(
            session,
            actor,
            "rollback",
            row.incident_id,
            {"action_id": row.action_id, "undo": row.undo, **verdict, "recovered": False},
        )

    # ---- reading -----------------------------------------------------------------------
    def actions(self, incident_id: str | None = None) -> list[dict[str, Any]]:
        with self.session() as session:
            return list_actions(session, incident_id)

    def audit_log(self, limit: int = 500) -> list[dict[str, Any]]:
        with self.session() as session:
            return adops_audit(session, limit)


def decide(
    engine: sa.Engine,
    policy: SafetyPolicy,
    approval_id: str,
    approver: str,
    *,
    approve: bool,
    note: str = "",
    clock: Callable[[], datetime],
) -> dict[str, Any]:
    """Approve or deny ``approval_id`` as ``approver`` (used by the executor, API and CLI)."""
    verb = "approved" if approve else "denied"
    with Session(engine, expire_on_commit=False) as session, session.begin():
        row = session.get(ApprovalRow, approval_id)
        if row is None:
            raise ApprovalNotFound(f"no approval {approval_id!r}")
        now = clock()
        why: SafetyError | None = None
        if approver.strip() not in policy.approvers:
            why = NotAnApprover(f"{approver!r} is not an approver")
        elif row.state != "pending":
            why = ApprovalClosed(f"approval {approval_id} is already {row.state}")
        elif row.expires_at <= now:
            row.state, row.decided_at, row.decided_by = "expired", now, "timeout"
            action = session.get(AgentActionRow, row.action_id)
            if action is not None:
                action.status = "expired"
            why = ApprovalClosed(f"approval {approval_id} expired at {row.expires_at:%H:%M}")
        if why is not None:
            record_audit(
                session,
                actor=approver or "?",
                action=AUDIT_PREFIX + "approval.refused",
                target=row.incident_id,
                details={"approval_id": approval_id, "wanted": verb, "why": str(why)},
                at=now,
            )
            session.commit()
            raise why
        row.state, row.decided_by, row.decided_at, row.note = verb, approver, now, note[:2000]
        if not approve:
            action = session.get(AgentActionRow, row.action_id)
            if action is not None:
                action.status = "denied"
        record_audit(
            session,
            actor=approver,
            action=AUDIT_PREFIX + f"approval.{verb}",
            target=row.incident_id,
            details={"approval_id": approval_id, "tool": row.tool, "args": row.args, "note": note},
            at=now,
        )
        return approval_dict(row)


def approval_dict(row: ApprovalRow) -> dict[str, Any]:
    return {
        "approval_id": row.approval_id,
        "action_id": row.action_id,
        "incident_id": row.incident_id,
        "tool": row.tool,
        "args": row.args,
        "risk": row.risk,
        "summary": row.summary,
        "state": row.state,
        "requested_by": row.requested_by,
        "requested_at": row.requested_at,
        "expires_at": row.expires_at,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at,
        "note": row.note,
    }


def action_dict(row: AgentActionRow) -> dict[str, Any]:
    return {
        "action_id": row.action_id,
        "incident_id": row.incident_id,
        "agent": row.agent,
        "tool": row.tool,
        "args": row.args,
        "target": row.target,
        "risk": row.risk,
        "blast_radius": row.blast_radius,
        "mode": row.mode,
        "status": row.status,
        "change": row.change,
        "undo": row.undo,
        "version_before": row.version_before,
        "version_after": row.version_after,
        "verify": row.verify,
        "created_at": row.created_at,
        "applied_at": row.applied_at,
        "verified_at": row.verified_at,
        "approval_id": row.approval_id,
    }


def list_actions(session: Session, incident_id: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(AgentActionRow).order_by(AgentActionRow.action_id)
    if incident_id is not None:
        query = query.where(AgentActionRow.incident_id == incident_id)
    return [action_dict(r) for r in session.scalars(query)]


def list_approvals(session: Session, state: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(ApprovalRow).order_by(ApprovalRow.requested_at.desc())
    if state is not None:
        query = query.where(ApprovalRow.state == state)
    return [approval_dict(r) for r in session.scalars(query.limit(500))]


def adops_audit(session: Session, limit: int = 500) -> list[dict[str, Any]]:
    """The agents' entries of the audit log, newest first."""
    rows = [r for r in list_audit(session, limit * 4) if r.action.startswith(AUDIT_PREFIX)]
    return [r.model_dump() for r in rows[:limit]]
