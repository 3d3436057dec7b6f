"""Who answers an escalation: the team (assignment rules), then an agent of it (round robin).

A rule matches on intent, language and priority (an empty field matches anything); the rule
with the lowest position that matches names the team, else the team named like the escalation's
department, else none (the handoff waits in the unrouted queue). Within the team the agents are
taken in turn (``Team.rr_cursor`` is the last one given work) among those available, speaking
the conversation's language (an agent with no languages speaks all) and below their capacity
(handoffs assigned to them and not closed).

``waiting_moves`` and ``move_one`` move handoffs nobody has answered yet away from an agent who
went away or is over capacity (a lowered capacity), to the next agent of the team, or back to
the team's queue; one transaction per move.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ssmas.assistant.tables import (
    AGENT_AVAILABLE,
    STATE_HUMAN,
    Agent,
    AssignmentRule,
    Conversation,
    Handoff,
    Team,
    TeamMember,
)

_ASSIGNED = "assigned"
_QUEUED = "queued"
_CLOSED = "closed"


def _matches(rule: AssignmentRule, intent: str | None, language: str | None, priority: str) -> bool:
    return (
        (rule.intent is None or rule.intent == intent)
        and (rule.language is None or rule.language == language)
        and (rule.priority is None or rule.priority == priority)
    )


def route_team(
    session: Session,
    *,
    intent: str | None,
    language: str | None,
    priority: str,
    department: str,
) -> Team | None:
    """The team an escalation goes to (see the module's docstring)."""
    rules = session.scalars(
        sa.select(AssignmentRule).order_by(AssignmentRule.position, AssignmentRule.id)
    )
    for rule in rules:
        if _matches(rule, intent, language, priority):
            return session.get(Team, rule.team_id)
    return session.scalars(sa.select(Team).where(Team.name == department)).first()


def loads(session: Session, handles: Collection[str] | None = None) -> dict[str, int]:
    """Open handoffs assigned to each agent handle."""
    query = (
        sa.select(Handoff.agent, sa.func.count())
        .where(Handoff.state != _CLOSED, Handoff.agent.is_not(None))
        .group_by(Handoff.agent)
    )
    if handles is not None:
        query = query.where(Handoff.agent.in_(list(handles)))
    return {str(agent): int(n) for agent, n in session.execute(query).tuples()}


def members(session: Session, team_id: int) -> list[Agent]:
    query = (
        sa.select(Agent)
        .join(TeamMember, TeamMember.agent_id == Agent.id)
        .where(TeamMember.team_id == team_id)
        .order_by(Agent.id)
    )
    return list(session.scalars(query))


def speaks(agent: Agent, language: str | None) -> bool:
    return not agent.languages or language is None or language in agent.languages


def pick_agent(
    session: Session, team: Team, language: str | None, *, exclude: Collection[str] = ()
) -> Agent | None:
    """The next agent of ``team`` in turn who can take one more conversation; moves the turn."""
    candidates = [a for a in members(session, team.id) if a.handle not in exclude]
    load = loads(session, [a.handle for a in candidates])
    fit = [
        a
        for a in candidates
        if a.status == AGENT_AVAILABLE
        and speaks(a, language)
        and load.get(a.handle, 0) < a.capacity
    ]
    if not fit:
        return None
    cursor = team.rr_cursor or 0
    chosen = next((a for a in fit if a.id > cursor), fit[0])
    team.rr_cursor = chosen.id
    return chosen


def assign(
    session: Session,
    handoff: Handoff,
    conversation: Conversation,
    now: datetime,
    *,
    exclude: Collection[str] = (),
) -> Agent | None:
    """Give ``handoff`` to the next agent of its team (or back to the team's queue). The team's
    row is locked (PostgreSQL) so two workers assigning at once take turns: the round robin
    and the capacities hold."""
    team = (
        session.get(Team, handoff.team_id, with_for_update=True, populate_existing=True)
        if handoff.team_id is not None
        else None
    )
    agent = pick_agent(session, team, handoff.language, exclude=exclude) if team else None
    if agent is not None:
        handoff.state, handoff.agent, handoff.assigned_at = _ASSIGNED, agent.handle, now
        if conversation.state != STATE_HUMAN:
            conversation.agent = agent.handle
    else:
        handoff.state, handoff.agent = _QUEUED, None
        if conversation.state != STATE_HUMAN:
            conversation.agent = None
    session.flush()
    return agent


@dataclass(frozen=True)
class Move:
    handoff_id: int
    conversation_id: int
    from_agent: str
    to_agent: str | None


def waiting_moves(session: Session, *, only: Sequence[str] | None = None) -> list[int]:
    """Ids of the unanswered handoffs (newest first) of agents who are away or over capacity
    (``only``: these handles): the candidates of ``move_one``."""
    query = sa.select(Agent)
    if only is not None:
        query = query.where(Agent.handle.in_(list(only)))
    agents = list(session.scalars(query))
    load = loads(session, [a.handle for a in agents])
    out = [
        a.handle
        for a in agents
        if a.status != AGENT_AVAILABLE or load.get(a.handle, 0) > a.capacity
    ]
    if not out:
        return []
    ids = session.scalars(
        sa.select(Handoff.id)
        .join(Conversation, Conversation.id == Handoff.conversation_id)
        .where(
            Handoff.agent.in_(out),
            Handoff.state == _ASSIGNED,
            Handoff.first_response_at.is_(None),
            Conversation.state != STATE_HUMAN,
        )
        .order_by(Handoff.opened_at.desc(), Handoff.id.desc())
    )
    return list(ids)


def move_one(session: Session, handoff_id: int, now: datetime) -> Move | None:
    """Reassign one unanswered handoff if its agent is (still) away or over capacity.

    Locks the conversation, then the team (``assign``): the order the text pipeline takes
    them in, so the sweep and the pipeline never wait on each other in a circle. The caller
    commits each move on its own."""
    found = session.get(Handoff, handoff_id)
    if found is None:
        return None
    conversation = session.get(
        Conversation, found.conversation_id, with_for_update=True, populate_existing=True
    )
    handoff = session.get(Handoff, handoff_id, populate_existing=True)
    if conversation is None or handoff is None or handoff.agent is None:
        return None
    if (
        handoff.state != _ASSIGNED
        or handoff.first_response_at is not None
        or conversation.state == STATE_HUMAN
    ):
        return None
    agent = session.scalars(sa.select(Agent).where(Agent.handle == handoff.agent)).first()
    if agent is None:
        return None
    if (
        agent.status == AGENT_AVAILABLE
        and loads(session, [agent.handle]).get(agent.handle, 0) <= agent.capacity
    ):
        return None
    chosen = assign(session, handoff, conversation, now, exclude={agent.handle})
    return Move(
        handoff.id,
        conversation.id,
        agent.handle,
        chosen.handle if chosen is not None else None,
    )
