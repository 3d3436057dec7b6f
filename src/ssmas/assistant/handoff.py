"""Human takeover: the agent queue with priorities and SLA deadlines, takeover and hand-back.

A conversation leaves the bot when the escalation score says so (``open_handoff``, state
``handoff``) or when an agent takes it (``take_over``/``agent_reply``, state ``human``); in both
states the bot stays silent. ``hand_back`` returns it to the bot and closes the handoff.
Notifications carry ids, priority and reasons only, never the customer's number or words.

A new handoff gets two SLA clocks from the priority (``sla_first_response_minutes``: until the
first agent reply, ``sla_due_at``; ``sla_resolution_minutes``: until it is resolved,
``resolution_due_at``) and is routed on open (``ssmas.assistant.routing``): a team by the
assignment rules, an agent of it by round robin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ssmas.assistant.events import EscalationEvent
from ssmas.assistant.routing import assign, route_team
from ssmas.assistant.tables import (
    STATE_BOT,
    STATE_HANDOFF,
    STATE_HUMAN,
    ChatMessage,
    Conversation,
    Handoff,
    Team,
)
from ssmas.core.api.errors import Conflict, NotFound
from ssmas.core.notify import Notification
from ssmas.settings import WhatsAppSettings

PRIORITY_RANK = {"urgent": 0, "high": 1, "medium": 2, "low": 3}
SLA_MINUTES: dict[str, float] = {"urgent": 5, "high": 15, "medium": 60, "low": 240}
RESOLUTION_MINUTES: dict[str, float] = {"urgent": 60, "high": 240, "medium": 1440, "low": 4320}
SEVERITY = {"urgent": "critical", "high": "warning", "medium": "info", "low": "info"}

HANDOFF_QUEUED = "queued"
HANDOFF_ASSIGNED = "assigned"
HANDOFF_CLOSED = "closed"


# The codes clients of the takeover routes rely on, carried by the core's NotFound / Conflict.
NOT_FOUND_CODE = "conversation_not_found"
NOT_OWNED_CODE = "conversation_not_owned"


def ConversationNotFound(message: str = "") -> NotFound:
    """The core's ``NotFound`` with this module's code (the agent console raises it by name)."""
    return NotFound(NOT_FOUND_CODE, message)


def _not_owned(conversation: Conversation) -> Conflict:
    return Conflict(NOT_OWNED_CODE, f"conversation is owned by {conversation.agent}")


@dataclass(frozen=True)
class QueueEntry:
    """One open handoff as the agent console lists it."""

    handoff_id: int
    conversation_id: int
    state: str
    priority: str
    department: str
    score: int
    reasons: list[str]
    opened_at: datetime
    sla_due_at: datetime
    agent: str | None
    breached: bool
    team: str | None = None
    status: str = "open"
    resolution_due_at: datetime | None = None
    resolution_breached: bool = False
    paused: bool = False
    first_response_at: datetime | None = None


def sla_deadline(
    priority: str, opened_at: datetime, minutes: dict[str, float] | None = None
) -> datetime:
    table = minutes or SLA_MINUTES
    return opened_at + timedelta(minutes=table.get(priority, table["medium"]))


def open_handoff_of(session: Session, conversation_id: int) -> Handoff | None:
    query = sa.select(Handoff).where(
        Handoff.conversation_id == conversation_id, Handoff.state != HANDOFF_CLOSED
    )
    return session.scalars(query.order_by(Handoff.id.desc())).first()


def open_handoff(
    session: Session,
    conversation: Conversation,
    *,
    score: int,
    reasons: list[str],
    priority: str,
    department: str,
    now: datetime,
    intent: str | None = None,
    settings: WhatsAppSettings | None = None,
    route: bool = True,
) -> tuple[Handoff, bool]:
    """Queue the conversation for an agent; ``(handoff, False)`` when one is already open.

    With ``route`` the new handoff goes to a team (assignment rules by intent, language and
    priority; else the team named like the department) and to an available agent of it."""
    existing = open_handoff_of(session, conversation.id)
    if existing is not None:
        return existing, False
    priority = priority if priority in PRIORITY_RANK else "medium"
    first = settings.sla_first_response_minutes if settings is not None else None
    resolution = settings.sla_resolution_minutes if settings is not None else None
    row = Handoff(
        conversation_id=conversation.id,
        state=HANDOFF_QUEUED,
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        department=department,
        score=score,
        reasons=list(reasons),
        opened_at=now,
        sla_due_at=sla_deadline(priority, now, first),
        resolution_due_at=sla_deadline(priority, now, resolution or RESOLUTION_MINUTES),
        intent=intent,
        language=conversation.language,
    )
    session.add(row)
    if conversation.state == STATE_BOT:
        conversation.state = STATE_HANDOFF
    session.flush()
    if route:
        team = route_team(
            session,
            intent=intent,
            language=conversation.language,
            priority=priority,
            department=department,
        )
        if team is not None:
            row.team_id = team.id
            assign(session, row, conversation, now)
    return row, True


def _conversation(session: Session, conversation_id: int) -> Conversation:
    row = session.get(Conversation, conversation_id, with_for_update=True)
    if row is None:
        raise ConversationNotFound(f"no conversation {conversation_id}")
    return row


def take_over(session: Session, conversation_id: int, agent: str, now: datetime) -> Conversation:
    """``agent`` owns the conversation; the bot goes silent. Another agent's ownership is kept."""
    conversation = _conversation(session, conversation_id)
    if conversation.state == STATE_HUMAN and conversation.agent not in (None, agent):
        raise _not_owned(conversation)
    handoff = open_handoff_of(session, conversation_id)
    if handoff is None:
        handoff, _ = open_handoff(
            session,
            conversation,
            score=0,
            reasons=["agent takeover"],
            priority="medium",
            department="general",
            now=now,
            route=False,
        )
    handoff.state, handoff.agent = HANDOFF_ASSIGNED, agent
    handoff.assigned_at = handoff.assigned_at or now
    conversation.state, conversation.agent = STATE_HUMAN, agent
    return conversation


def hand_back(session: Session, conversation_id: int, agent: str, now: datetime) -> Conversation:
    """Return the conversation to the bot and close its handoff."""
    conversation = _conversation(session, conversation_id)
    if conversation.state == STATE_HUMAN and conversation.agent not in (None, agent):
        raise _not_owned(conversation)
    handoff = open_handoff_of(session, conversation_id)
    if handoff is not None:
        handoff.state, handoff.closed_at = HANDOFF_CLOSED, now
    conversation.state, conversation.agent = STATE_BOT, None
    return conversation


def note_agent_response(session: Session, conversation_id: int, now: datetime) -> None:
    """Stop the SLA clock of the open handoff at the agent's first reply."""
    handoff = open_handoff_of(session, conversation_id)
    if handoff is not None and handoff.first_response_at is None:
        handoff.first_response_at = now


def agent_queue(
    session: Session, now: datetime, limit: int = 200, *, team: str | None = None
) -> list[QueueEntry]:
    """Open handoffs, most urgent first, then by SLA deadline (only ``team``'s when given;
    ``team="-"``: those routed to no team)."""
    query = (
        sa.select(Handoff, Conversation.status, Team.name)
        .join(Conversation, Conversation.id == Handoff.conversation_id)
        .outerjoin(Team, Team.id == Handoff.team_id)
        .where(Handoff.state != HANDOFF_CLOSED)
        .order_by(Handoff.priority_rank, Handoff.sla_due_at, Handoff.id)
        .limit(limit)
    )
    if team == "-":
        query = query.where(Handoff.team_id.is_(None))
    elif team:
        query = query.where(Team.name == team)
    return [
        QueueEntry(
            handoff_id=row.id,
            conversation_id=row.conversation_id,
            state=row.state,
            priority=row.priority,
            department=row.department,
            score=row.score,
            reasons=list(row.reasons or []),
            opened_at=row.opened_at,
            sla_due_at=row.sla_due_at,
            agent=row.agent,
            breached=row.first_response_at is None and row.sla_due_at < now,
            team=team_name,
            status=status,
            resolution_due_at=row.resolution_due_at,
            resolution_breached=(
                row.resolution_due_at is not None
                and row.paused_at is None
                and row.resolution_due_at < now
            ),
            paused=row.paused_at is not None,
            first_response_at=row.first_response_at,
        )
        for row, status, team_name in session.execute(query).tuples()
    ]


def due_breaches(session: Session, now: datetime) -> list[Handoff]:
    """Open handoffs past their SLA without an agent reply, not yet notified (marks them)."""
    query = sa.select(Handoff).where(
        Handoff.state != HANDOFF_CLOSED,
        Handoff.first_response_at.is_(None),
        Handoff.breach_notified_at.is_(None),
        Handoff.sla_due_at < now,
    )
    rows = list(session.scalars(query))
    for row in rows:
        row.breach_notified_at = now
    return rows


def escalation_notification(handoff: Handoff, *, breached: bool = False) -> Notification:
    """The notifier message for a new (or SLA-breached) handoff; no personal data."""
    return escalation_notice(
        EscalationEvent(
            conversation_id=handoff.conversation_id,
            handoff_id=handoff.id,
            priority=handoff.priority,
            department=handoff.department,
            score=handoff.score,
            reasons=list(handoff.reasons or []),
            sla_due_at=handoff.sla_due_at,
            timestamp=handoff.opened_at,
        ),
        breached=breached,
    )


def escalation_notice(
    event: EscalationEvent,
    *,
    breached: bool = False,
    team: str | None = None,
    agent: str | None = None,
) -> Notification:
    """The notifier message for an escalation event (what the escalation queue sends), with
    the team and agent it was routed to when known."""
    title = (
        f"WhatsApp escalation SLA breached: conversation {event.conversation_id}"
        if breached
        else f"WhatsApp escalation ({event.priority}): conversation {event.conversation_id}"
    )
    return Notification(
        title=title,
        body="; ".join(event.reasons),
        severity="critical" if breached else SEVERITY.get(event.priority, "info"),  # type: ignore[arg-type]
        source="ssmas.assistant",
        dedup_key=f"assistant-handoff-{event.handoff_id}",
        fields={
            "conversation_id": event.conversation_id,
            "handoff_id": event.handoff_id,
            "priority": event.priority,
            "department": event.department,
            "score": event.score,
            "sla_due_at": event.sla_due_at.isoformat(),
            **({"team": team} if team else {}),
            **({"assigned_to": agent} if agent else {}),
        },
    )


def last_inbound(session: Session, conversation_id: int) -> ChatMessage | None:
    query = (
        sa.select(ChatMessage)
        .where(ChatMessage.conversation_id == conversation_id, ChatMessage.direction == "in")
        .order_by(ChatMessage.id.desc())
    )
    return session.scalars(query).first()
