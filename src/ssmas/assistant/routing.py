"""Who answers an escalation: the team (assignment rules), then an agent of it (round robin).

A rule matches on intent, language and priority (an empty field matches anything); the rule
with the lowest position that matches names the team, else the team named like the escalation's
department, else none (the handoff waits in the unrouted queue). Within the team the agents are
taken in turn (``Team.rr_cursor`` is the last one given work) among those available, speaking
the conversation's language (an agent with no languages speaks all) and below their capacity
(handoffs assigned to them and not closed).

``rebalance`` moves handoffs nobody has answered yet away from an agent who went away or is over
capacity (a lowered capacity), to the next agent of the team, or back to the team's queue.
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
    """Give ``handoff`` to the next agent of its team (or back to the team's queue)."""
    team = session.get(Team, handoff.team_id) if handoff.team_id is not None else None
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


def rebalance(session: Session, now: datetime, *, only: Sequence[str] | None = None) -> list[Move]:
    """Reassign unanswered handoffs of agents who are away or over capacity (``only``: these
    handles); a handoff an agent has taken over or answered stays theirs."""
    query = sa.select(Agent)
    if only is not None:
        query = query.where(Agent.handle.in_(list(only)))
    agents = list(session.scalars(query))
    load = loads(session, [a.handle for a in agents])
    moves: list[Move] = []
    for agent in agents:
        excess = load.get(agent.handle, 0) - agent.capacity
        if agent.status == AGENT_AVAILABLE and excess <= 0:
            continue
        waiting = list(
            session.execute(
                sa.select(Handoff, Conversation)
                .join(Conversation, Conversation.id == Handoff.conversation_id)
                .where(
                    Handoff.agent == agent.handle,
                    Handoff.state == _ASSIGNED,
                    Handoff.first_response_at.is_(None),
                    Conversation.state != STATE_HUMAN,
                )
                .order_by(Handoff.opened_at.desc(), Handoff.id.desc())
            ).tuples()
        )
        for handoff, conversation in waiting:
            if agent.status == AGENT_AVAILABLE and excess <= 0:
                break
            chosen = assign(session, handoff, conversation, now, exclude={agent.handle})
            moves.append(
                Move(
                    handoff.id,
                    conversation.id,
                    agent.handle,
                    chosen.handle if chosen is not None else None,
                )
            )
            excess -= 1
    return moves
