"""The orchestrator: takes incidents, classifies them, hands them to a specialist, and follows
each action through approval and verification to a resolved or escalated incident.

``AgentRunner.step()`` is called once per simulated minute (after ``observe`` has been given
that minute's metric points): it expires approvals past their time, applies approved actions,
verifies actions whose verification window has passed (rolling back those that did not help and
trying the next hypothesis), and takes every incident no agent has yet. A cause no tool can fix
(a specialist with no hypothesis) is escalated at once with the specialist's diagnosis. Every
step of the reasoning lands on the incident's timeline (kind ``agent``) and in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
import structlog

from ssmas.adops.agents.playbooks import SPECIALISTS, Hypothesis, Triage, triage
from ssmas.adops.agents.tables import AgentActionRow, AgentCaseRow, ApprovalRow
from ssmas.adops.incidents import IncidentService
from ssmas.adops.incidents.tables import IncidentRow
from ssmas.adops.safety.executor import SafeExecutor
from ssmas.adops.safety.policy import SafetyPolicy
from ssmas.adops.tools.base import BASELINE_GAP, BASELINE_SPAN, ToolContext, ToolError
from ssmas.core.security.audit import record_audit

log = structlog.get_logger("ssmas.adops.agents")
ORCHESTRATOR = "orchestrator"
MIN_HISTORY_MIN = 40  # minutes of the baseline hour the agents need before judging anything


class Planner(Protocol):
    """Something that proposes hypotheses for a triaged incident (the LLM planner)."""

    name: str

    def plan(
        self,
        incident: Mapping[str, Any],
        t: Triage,
        findings: list[dict[str, Any]],
        playbook: list[Hypothesis] | None = None,
    ) -> list[Hypothesis]: ...


class AgentRunner:
    """The orchestrator and its five specialists over one incident manager and control plane."""

    def __init__(
        self,
        incidents: IncidentService,
        ctx: ToolContext,
        policy: SafetyPolicy,
        *,
        planner: Planner | None = None,
        approval_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.incidents = incidents
        self.ctx = ctx
        self.policy = policy
        self.executor = SafeExecutor(
            incidents.engine, ctx, policy, clock=incidents.clock, approval_clock=approval_clock
        )
        self.planner = planner

    def observe(self, points: Iterable[Mapping[str, Any]]) -> None:
        self.ctx.metrics.add(points)

    # ---- the loop ----------------------------------------------------------------------
    def step(self) -> None:
        for approval_id in self.executor.expire_due():
            self._after_closed_approval(approval_id)
        self._closed_approvals()
        for action in self.executor.run_approved():
            self._on_applied(action)
        for action in self.executor.due():
            self._judge(action)
        for incident in self._new_incidents():
            try:
                self.handle(incident)
            except Exception:  # one bad incident must not stop the others
                log.exception("agent_case_failed", incident=incident["incident_id"])
                self._forget(incident["incident_id"])

    def _new_incidents(self) -> list[dict[str, Any]]:
        with self.incidents.session() as session:
            # new incidents, and those where no cause was found that have alerted since
            taken = sa.select(AgentCaseRow.incident_id).where(
                sa.or_(
                    AgentCaseRow.state != "no_cause",
                    AgentCaseRow.updated_at >= IncidentRow.last_alert_at,
                )
            )
            rows = session.scalars(
                sa.select(IncidentRow)
                .where(
                    IncidentRow.state.in_(("open", "triaged")),
                    IncidentRow.incident_id.not_in(taken.scalar_subquery()),
                )
                .order_by(IncidentRow.opened_at)
            ).all()
            return [
                {
                    "incident_id": r.incident_id,
                    "entity_type": r.entity_type,
                    "entity_id": r.entity_id,
                    "opened_at": r.opened_at,
                    "title": r.title,
                    "problem_type": r.problem_type,
                }
                for r in rows
            ]

    # ---- one incident ------------------------------------------------------------------
    def handle(self, incident: dict[str, Any]) -> None:
        iid = incident["incident_id"]
        self.ctx.reference = incident["opened_at"]
        history = self._history(incident["opened_at"])
        if history < MIN_HISTORY_MIN:
            self._case(iid, "NONE", ORCHESTRATOR, "no_cause", [], incident)
            self._step(
                iid,
                f"not enough history for baselines ({history} of the "
                f"{MIN_HISTORY_MIN} minutes needed); looked at again on its next alert",
                {},
            )
            return
        t = triage(self.ctx, incident)
        now = self.incidents.clock()
        if t is None:
            self._case(iid, "NONE", ORCHESTRATOR, "no_cause", [], incident)
            self._step(
                iid,
                "no cause found: every partner, knob and traffic source is within "
                "its baseline; left to the incident's own auto-resolve",
                {},
            )
            return
        specialist = SPECIALISTS[t.category]()
        self._audit(iid, ORCHESTRATOR, "classify", t.as_dict())
        self._step(
            iid,
            f"classified {t.category} ({t.problem} on {t.entity_type}/{t.entity_id}); "
            f"handed to the {specialist.name} agent. Evidence: {t.evidence[0].text}",
            {"step": "classify", **t.as_dict()},
        )
        findings = specialist.diagnose(self.executor, iid, t)
        for f in findings:
            self._step(
                iid,
                f"{specialist.name}: {f['tool']}: {f['summary']}",
                {"step": "diagnose", "tool": f["tool"], "args": f["args"], "summary": f["summary"]},
                actor=specialist.name,
            )
        diagnosis = specialist.handoff(t, findings)
        if diagnosis is not None:
            self._step(
                iid,
                f"{specialist.name}: diagnosis: {diagnosis.summary}",
                {"step": "diagnosis", **diagnosis.as_dict()},
                actor=specialist.name,
            )
            self._audit(iid, specialist.name, "diagnosis", diagnosis.as_dict())
        hypotheses, planner = self._hypotheses(incident, t, findings, specialist)
        for i, h in enumerate(hypotheses):
            self._step(
                iid,
                f"hypothesis {i + 1} ({h.confidence:.0%}): {h.text} -> {h.tool} {h.args}",
                {"step": "hypothesise", **h.as_dict()},
                actor=specialist.name,
            )
        other = self._handled_elsewhere(iid, hypotheses)
        if other is not None:
            self._case(
                iid, t.category, specialist.name, "linked", hypotheses, incident, planner=planner
            )
            self._step(
                iid,
                f"same cause as incident {other}, which is being handled: linked "
                "to it (no second action)",
                {"step": "link", "incident": other},
            )
            return
        self._case(
            iid, t.category, specialist.name, "acting", hypotheses, incident, planner=planner
        )
        if not hypotheses:  # nothing the tools can do: a person gets the diagnosis, untouched
            self._escalate(iid, specialist.name, f"no automated remedy for {t.problem}")
            return
        if incident.get("state", "open") in ("open", "triaged"):
            self.incidents.agent_move(
                iid,
                "mitigating",
                actor=f"agent:{specialist.name}",
                note=f"{t.category}: {t.problem}",
            )
        del now
        self._try_next(iid)

    def _handled_elsewhere(self, iid: str, hypotheses: list[Hypothesis]) -> str | None:
        """Another incident whose case is working on the same first action right now."""
        if not hypotheses:
            return None
        first = (hypotheses[0].tool, hypotheses[0].args)
        with self.incidents.session() as session:
            rows = session.scalars(
                sa.select(AgentCaseRow).where(
                    AgentCaseRow.state.in_(("acting", "awaiting_approval", "verifying")),
                    AgentCaseRow.incident_id != iid,
                )
            ).all()
            for row in rows:
                if (
                    row.hypotheses
                    and (row.hypotheses[0]["tool"], row.hypotheses[0]["args"]) == first
                ):
                    return row.incident_id
        return None

    def _forget(self, iid: str) -> None:
        """Drop a case that failed half-way (a busy database...): it is taken again at the next
        step, and its actions, being idempotent, are found again rather than repeated."""
        try:
            with self.incidents.session() as session:
                case = session.get(AgentCaseRow, iid)
                if case is not None:
                    session.delete(case)
        except Exception:
            log.exception("agent_case_forget_failed", incident=iid)

    def _history(self, reference: datetime) -> int:
        end = reference - BASELINE_GAP
        return len(self.ctx.metrics.values("exchange", "exchange", "rpm", end - BASELINE_SPAN, end))

    def _hypotheses(
        self, incident: dict[str, Any], t: Triage, findings: list[dict[str, Any]], specialist: Any
    ) -> tuple[list[Hypothesis], str]:
        playbook = specialist.hypotheses(self.ctx, t)
        if self.planner is None:
            return playbook, "playbook"
        try:
            planned = self.planner.plan(incident, t, findings, playbook)
        except Exception as exc:  # timeout, budget, bad JSON, unknown tool: the playbook
            self._step(
                incident["incident_id"],
                f"LLM planner failed ({exc}); using the playbook",
                {"step": "planner_fallback", "error": str(exc)[:500]},
            )
            self._audit(
                incident["incident_id"], "planner", "planner.fallback", {"error": str(exc)[:500]}
            )
            return playbook, "playbook"
        self._audit(
            incident["incident_id"],
            "planner",
            "planner.plan",
            {"hypotheses": [h.as_dict() for h in planned]},
        )
        return planned, self.planner.name

    def _try_next(self, iid: str) -> None:
        with self.incidents.session() as session:
            case = session.get(AgentCaseRow, iid)
            if case is None:
                return
            hypotheses = [Hypothesis.from_dict(h) for h in case.hypotheses]
            index = case.next_hypothesis
            agent = case.agent
        while index < len(hypotheses):
            h = hypotheses[index]
            index += 1
            self._set_case(iid, next_hypothesis=index)
            if self._in_place(h):
                self._step(
                    iid,
                    f"{h.tool} {h.args} is already in place (an earlier action): "
                    "nothing more to change",
                    {"step": "act", "tool": h.tool, "status": "in_place"},
                    actor=agent,
                )
                self._set_case(iid, state="resolved")
                self.incidents.agent_move(
                    iid, "resolved", actor=f"agent:{agent}", note=f"{h.tool} already in place"
                )
                return
            try:
                outcome = self.executor.propose(
                    iid, agent, h.tool, h.args, verify=h.verify, reason=h.text
                )
            except ToolError as exc:
                self._step(
                    iid, f"{h.tool} refused: {exc}", {"step": "act", "error": str(exc)}, actor=agent
                )
                continue
            self._step(
                iid,
                f"act: {h.tool} {h.args}: {outcome.status} ({outcome.message})",
                {
                    "step": "act",
                    "tool": h.tool,
                    "args": h.args,
                    "status": outcome.status,
                    "action_id": outcome.action_id,
                    "approval_id": outcome.approval_id,
                },
                actor=agent,
            )
            if outcome.status == "duplicate":  # taken again after a failure: resume it
                resumed = self._resume(outcome.action_id)
                if resumed is not None:
                    self._set_case(iid, state=resumed)
                    return
                continue
            if outcome.status in ("refused", "failed"):
                continue
            state = {
                "shadow": "shadow",
                "awaiting_approval": "awaiting_approval",
                "applied": "verifying",
                "sent": "verifying",
            }[outcome.status]
            self._set_case(iid, state=state)
            return
        self._escalate(iid, agent, "no hypothesis left to try")

    def _resume(self, action_id: int | None) -> str | None:
        with self.incidents.session() as session:
            row = session.get(AgentActionRow, action_id) if action_id is not None else None
            status = row.status if row is not None else None
        return {
            "awaiting_approval": "awaiting_approval",
            "applied": "verifying",
            "sent": "verifying",
            "shadow": "shadow",
        }.get(status or "")

    def _in_place(self, h: Hypothesis) -> bool:
        """The hypothesis's change is what the knobs already hold (an earlier incident's fix)."""
        from ssmas.adops.tools.base import get_tool, undo_of

        try:
            tool = get_tool(h.tool)
            change = tool.change(self.ctx, tool.parse(h.args))
        except ToolError:
            return False
        return bool(change) and _canonical(undo_of(self.ctx, change)) == _canonical(change)

    # ---- approvals and verification ----------------------------------------------------
    def _closed_approvals(self) -> None:
        """Denied requests (by API or CLI) end their case: escalated, nothing changed."""
        with self.incidents.session() as session:
            rows = (
                session.execute(
                    sa.select(ApprovalRow.approval_id)
                    .join(AgentCaseRow, AgentCaseRow.incident_id == ApprovalRow.incident_id)
                    .where(ApprovalRow.state == "denied", AgentCaseRow.state == "awaiting_approval")
                )
                .scalars()
                .all()
            )
        for approval_id in rows:
            self._after_closed_approval(approval_id)

    def _after_closed_approval(self, approval_id: str) -> None:
        with self.incidents.session() as session:
            row = session.get(ApprovalRow, approval_id)
            if row is None:
                return
            iid, state, who, tool = row.incident_id, row.state, row.decided_by, row.tool
        human = state == "denied"
        self._step(
            iid,
            f"approval of {tool} {state} by {who}: nothing was changed",
            {"step": "approval", "approval_id": approval_id, "state": state},
            actor=who or "?",
            human=human,
        )
        self._escalate(iid, ORCHESTRATOR, f"{tool} was {state}")

    def _on_applied(self, action: AgentActionRow) -> None:
        with self.incidents.session() as session:
            approval = session.get(ApprovalRow, action.approval_id) if action.approval_id else None
            who = approval.decided_by if approval else None
        if who:
            self._step(
                action.incident_id,
                f"{action.tool} approved by {who}",
                {"step": "approval", "approval_id": action.approval_id, "state": "approved"},
                actor=who,
                human=True,
            )
        self._step(
            action.incident_id,
            f"act: {action.tool} {action.args}: applied",
            {"step": "act", "action_id": action.action_id, "status": action.status},
            actor=action.agent,
        )
        if action.status in ("applied", "sent"):
            self._set_case(action.incident_id, state="verifying")

    def _judge(self, action: AgentActionRow) -> None:
        verdict = self.executor.verify(action.action_id)
        spec = action.verify or {}
        iid = action.incident_id
        if verdict == "verified":
            self._step(
                iid,
                f"verify: {spec.get('metric')} of {spec.get('entity_id')} back near its "
                f"baseline after {action.tool}",
                {"step": "verify", "action_id": action.action_id, "verdict": verdict},
                actor=action.agent,
            )
            self._set_case(iid, state="resolved")
            try:
                self.incidents.agent_move(
                    iid,
                    "resolved",
                    actor=f"agent:{action.agent}",
                    note=f"{action.tool} verified on {spec.get('metric')}",
                )
            except Exception as exc:  # resolved meanwhile (auto-resolve): keep the case's word
                log.info("agent_resolve_skipped", incident=iid, why=str(exc))
            self._audit(iid, action.agent, "resolve", {"action_id": action.action_id})
            return
        self._step(
            iid,
            f"verify: {action.tool} did not bring {spec.get('metric')} back: rolled back",
            {"step": "verify", "action_id": action.action_id, "verdict": verdict},
            actor=action.agent,
        )
        self._set_case(iid, state="acting")
        self._try_next(iid)

    def _escalate(self, iid: str, agent: str, why: str) -> None:
        """Hand the incident to a person, with the specialist's diagnosis when it made one."""
        self._set_case(iid, state="escalated")
        diagnosis = self._diagnosis(iid)
        self._audit(iid, agent, "escalate", {"why": why, "diagnosis": diagnosis})
        note = f"{why}; diagnosis: {diagnosis['summary']}" if diagnosis else why
        try:
            self.incidents.agent_move(iid, "escalated", actor=f"agent:{agent}", note=note)
        except Exception as exc:
            log.info("agent_escalate_skipped", incident=iid, why=str(exc))

    def _diagnosis(self, iid: str) -> dict[str, Any] | None:
        """The latest diagnosis step on the incident's timeline (None when there is none)."""
        steps = [
            s["data"]
            for s in self.incidents.get(iid)["timeline"]
            if s["kind"] == "agent" and s["data"].get("step") == "diagnosis"
        ]
        if not steps:
            return None
        return {k: v for k, v in steps[-1].items() if k != "step"}

    # ---- records -----------------------------------------------------------------------
    def _case(
        self,
        iid: str,
        category: str,
        agent: str,
        state: str,
        hypotheses: list[Hypothesis],
        incident: dict[str, Any],
        *,
        planner: str = "playbook",
    ) -> None:
        now = self.incidents.clock()
        with self.incidents.session() as session:
            session.merge(
                AgentCaseRow(
                    incident_id=iid,
                    category=category,
                    agent=agent,
                    state=state,
                    hypotheses=[h.as_dict() for h in hypotheses],
                    next_hypothesis=0,
                    mode=self.policy.mode,
                    reference_at=incident["opened_at"],
                    opened_at=now,
                    updated_at=now,
                    planner=planner,
                )
            )

    def _set_case(self, iid: str, **values: Any) -> None:
        with self.incidents.session() as session:
            case = session.get(AgentCaseRow, iid)
            if case is None:
                return
            for key, value in values.items():
                setattr(case, key, value)
            case.updated_at = self.incidents.clock()

    def _step(
        self,
        iid: str,
        text: str,
        data: dict[str, Any],
        *,
        actor: str = ORCHESTRATOR,
        human: bool = False,
    ) -> None:
        self.incidents.add_step(
            iid,
            kind="agent",
            actor=actor if human else f"agent:{actor}",
            text=text,
            data=_jsonable(data),
            human=human,
        )

    def _audit(self, iid: str, agent: str, action: str, details: dict[str, Any]) -> None:
        with self.incidents.session() as session:
            record_audit(
                session,
                actor=f"agent:{agent}",
                action=f"adops.{action}",
                target=iid,
                details=_jsonable(details),
                at=self.incidents.clock(),
            )


def _canonical(change: dict[str, Any]) -> dict[str, Any]:
    return {k: (sorted(v) if isinstance(v, list | tuple) else v) for k, v in change.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def cases(incidents: IncidentService) -> list[dict[str, Any]]:
    with incidents.session() as session:
        rows = session.scalars(
            sa.select(AgentCaseRow).order_by(AgentCaseRow.opened_at.desc())
        ).all()
        return [
            {
                "incident_id": r.incident_id,
                "category": r.category,
                "agent": r.agent,
                "state": r.state,
                "mode": r.mode,
                "planner": r.planner,
                "opened_at": r.opened_at,
                "updated_at": r.updated_at,
                "hypotheses": r.hypotheses,
            }
            for r in rows
        ]
