"""The agent workspace's rules over the database (the caller owns the transaction).

- Directory: teams, agents (languages, capacity, available / away, teams), assignment rules and
  canned responses (per team or for all, with ``{{variables}}`` checked when saved).
- Conversation status, the workflow beside who speaks (``Conversation.state``): ``open``,
  ``pending`` (waiting for the customer: the handoff's resolution clock is paused), ``snoozed``
  (until a time or the customer's next message), ``resolved`` (the handoff closes; the customer's
  next message reopens it, except the answer to the satisfaction survey).
- Customer confirmation: a message the NLU reads as thanks / confirmation, or the "solved"
  button, on a conversation the bot holds, resolves it (``resolved_at``): analytics counts a
  conversation resolved by that or by a CSAT answer of 4 or 5, never by who spoke last.
- Private notes (encrypted, never sent, never in the bot's context) and CSAT answers (a 1-5 list
  message after an agent resolves; the score recorded with the agent and team who resolved).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ssmas.assistant.handoff import HANDOFF_CLOSED, PRIORITY_RANK, open_handoff_of
from ssmas.assistant.routing import loads
from ssmas.assistant.tables import (
    AGENT_AVAILABLE,
    AGENT_AWAY,
    STATE_BOT,
    STATUS_OPEN,
    STATUS_PENDING,
    STATUS_RESOLVED,
    STATUS_SNOOZED,
    STATUSES,
    Agent,
    AssignmentRule,
    CannedResponse,
    Conversation,
    CsatAnswer,
    Handoff,
    PrivateNote,
    Team,
    TeamMember,
)
from ssmas.core.api.errors import Conflict, DomainError, NotFound
from ssmas.core.security import PiiCipher


class WorkspaceInvalid(DomainError):
    code = "invalid_workspace_input"
    status = 400


# a missing team, agent, rule or canned response is the core's NotFound (code ``not_found``), a
# name taken the core's Conflict (code ``conflict``); the agent console raises it by this name
WorkspaceConflict = Conflict


NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
VARIABLES = ("name", "first_name", "agent", "conversation", "phone_last4")
AGENT_STATUSES = (AGENT_AVAILABLE, AGENT_AWAY)

# What counts as the customer confirming the problem is solved (the domain's "thank" intent,
# the common corpora's names for it, and the "solved" reply button).
CONFIRM_INTENTS = frozenset({"thank", "thanks", "thank_you", "affirm", "confirm", "resolved"})
CONFIRM_BUTTONS = frozenset({"resolved_yes", "solved", "confirm_resolved"})
CSAT_PREFIX = "csat:"
CSAT_SATISFIED = 4  # 4 or 5 of 5: a satisfied customer (the usual CSAT cut)


# -- directory --------------------------------------------------------------------------------


def _name(value: str, what: str) -> str:
    value = value.strip().lower()
    if not NAME.match(value):
        raise WorkspaceInvalid(
            message=f"{what} must be 1-64 of a-z, 0-9, '_' or '-' (starting with a letter or"
            f" digit), not {value!r}"
        )
    return value


def _languages(values: Sequence[str]) -> list[str]:
    out = []
    for value in values:
        code = value.strip().lower()
        if not LANGUAGE.match(code):
            raise WorkspaceInvalid(message=f"a language is a two-letter code, not {value!r}")
        if code not in out:
            out.append(code)
    return out


def team_by_name(session: Session, name: str) -> Team:
    found = session.scalars(sa.select(Team).where(Team.name == name.strip().lower())).first()
    if found is None:
        raise NotFound(message=f"no team {name!r}")
    return found


def agent_by_handle(session: Session, handle: str) -> Agent:
    found = session.scalars(sa.select(Agent).where(Agent.handle == handle)).first()
    if found is None:
        raise NotFound(message=f"no agent {handle!r}")
    return found


def add_team(session: Session, name: str, now: datetime) -> Team:
    name = _name(name, "a team name")
    if session.scalars(sa.select(Team.id).where(Team.name == name)).first() is not None:
        raise Conflict(message=f"team {name!r} exists")
    row = Team(name=name, created_at=now)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class TeamView:
    id: int
    name: str
    agents: list[str]


def list_teams(session: Session) -> list[TeamView]:
    rows = session.execute(
        sa.select(Team.id, Team.name, Agent.handle)
        .outerjoin(TeamMember, TeamMember.team_id == Team.id)
        .outerjoin(Agent, Agent.id == TeamMember.agent_id)
        .order_by(Team.name, Agent.id)
    ).tuples()
    views: dict[int, TeamView] = {}
    for team_id, name, handle in rows:
        view = views.setdefault(team_id, TeamView(team_id, name, []))
        if handle is not None:
            view.agents.append(handle)
    return list(views.values())


def _set_teams(session: Session, agent: Agent, teams: Sequence[str]) -> None:
    wanted = [team_by_name(session, t) for t in teams]
    session.execute(sa.delete(TeamMember).where(TeamMember.agent_id == agent.id))
    for team in {t.id: t for t in wanted}.values():
        session.add(TeamMember(team_id=team.id, agent_id=agent.id))
    session.flush()


def _handle(value: str) -> str:
    handle = value.strip()
    if not 3 <= len(handle) <= 200 or ":" not in handle or any(c.isspace() for c in handle):
        raise WorkspaceInvalid(
            message=f"an agent handle is who acts, e.g. web:eva or apikey:<prefix>, not {value!r}"
        )
    return handle


def add_agent(
    session: Session,
    *,
    handle: str,
    name: str,
    languages: Sequence[str],
    capacity: int,
    teams: Sequence[str],
    now: datetime,
) -> Agent:
    handle = _handle(handle)
    if not name.strip() or len(name) > 200:
        raise WorkspaceInvalid(message="an agent's name is 1-200 characters")
    if not 1 <= capacity <= 1000:
        raise WorkspaceInvalid(message=f"capacity must be 1 to 1000, not {capacity}")
    if session.scalars(sa.select(Agent.id).where(Agent.handle == handle)).first() is not None:
        raise Conflict(message=f"agent {handle!r} exists")
    row = Agent(
        handle=handle,
        name=name.strip(),
        languages=_languages(languages),
        capacity=capacity,
        status=AGENT_AVAILABLE,
        created_at=now,
    )
    session.add(row)
    session.flush()
    _set_teams(session, row, teams)
    return row


def update_agent(
    session: Session,
    handle: str,
    *,
    status: str | None = None,
    capacity: int | None = None,
    languages: Sequence[str] | None = None,
    teams: Sequence[str] | None = None,
) -> Agent:
    row = agent_by_handle(session, handle)
    if status is not None:
        if status not in AGENT_STATUSES:
            raise WorkspaceInvalid(
                message=f"status must be one of {AGENT_STATUSES}, not {status!r}"
            )
        row.status = status
    if capacity is not None:
        if not 1 <= capacity <= 1000:
            raise WorkspaceInvalid(message=f"capacity must be 1 to 1000, not {capacity}")
        row.capacity = capacity
    if languages is not None:
        row.languages = _languages(languages)
    if teams is not None:
        _set_teams(session, row, teams)
    session.flush()
    return row


@dataclass(frozen=True)
class AgentView:
    handle: str
    name: str
    languages: list[str]
    capacity: int
    status: str
    teams: list[str]
    load: int


def list_agents(session: Session) -> list[AgentView]:
    agents = list(session.scalars(sa.select(Agent).order_by(Agent.id)))
    memberships = session.execute(
        sa.select(TeamMember.agent_id, Team.name).join(Team, Team.id == TeamMember.team_id)
    ).tuples()
    by_agent: dict[int, list[str]] = {}
    for agent_id, team in memberships:
        by_agent.setdefault(agent_id, []).append(team)
    load = loads(session)
    return [
        AgentView(
            a.handle,
            a.name,
            list(a.languages or []),
            a.capacity,
            a.status,
            sorted(by_agent.get(a.id, [])),
            load.get(a.handle, 0),
        )
        for a in agents
    ]


def add_rule(
    session: Session,
    *,
    team: str,
    intent: str | None,
    language: str | None,
    priority: str | None,
    position: int,
    now: datetime,
) -> AssignmentRule:
    target = team_by_name(session, team)
    if priority is not None and priority not in PRIORITY_RANK:
        raise WorkspaceInvalid(
            message=f"priority must be one of {sorted(PRIORITY_RANK)}, not {priority!r}"
        )
    if language is not None:
        language = _languages([language])[0]
    if intent is not None and not 1 <= len(intent.strip()) <= 64:
        raise WorkspaceInvalid(message="an intent is 1-64 characters")
    if not 0 <= position <= 1_000_000:
        raise WorkspaceInvalid(message="position must be 0 to 1000000")
    row = AssignmentRule(
        team_id=target.id,
        position=position,
        intent=intent.strip() if intent else None,
        language=language,
        priority=priority,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def list_rules(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(AssignmentRule, Team.name)
        .join(Team, Team.id == AssignmentRule.team_id)
        .order_by(AssignmentRule.position, AssignmentRule.id)
    ).tuples()
    return [
        {
            "id": r.id,
            "team": team,
            "position": r.position,
            "intent": r.intent,
            "language": r.language,
            "priority": r.priority,
        }
        for r, team in rows
    ]


def delete_rule(session: Session, rule_id: int) -> None:
    row = session.get(AssignmentRule, rule_id)
    if row is None:
        raise NotFound(message=f"no assignment rule {rule_id}")
    session.delete(row)
    session.flush()


# -- canned responses -------------------------------------------------------------------------


def check_variables(body: str) -> list[str]:
    """The variables ``body`` uses; an unknown one is refused (a typo would reach customers)."""
    used = VARIABLE.findall(body)
    unknown = sorted({v for v in used if v not in VARIABLES})
    if unknown:
        known = ", ".join("{{" + v + "}}" for v in VARIABLES)
        raise WorkspaceInvalid(message=f"unknown variable(s) {unknown}; use {known}")
    return used


def add_canned(
    session: Session, *, shortcut: str, body: str, team: str | None, now: datetime
) -> CannedResponse:
    shortcut = _name(shortcut, "a shortcut")
    if not body.strip() or len(body) > 4096:
        raise WorkspaceInvalid(message="a canned response is 1-4096 characters")
    check_variables(body)
    team_id = team_by_name(session, team).id if team else None
    clash = session.scalars(
        sa.select(CannedResponse.id).where(
            CannedResponse.shortcut == shortcut,
            CannedResponse.team_id.is_(None)
            if team_id is None
            else CannedResponse.team_id == team_id,
        )
    ).first()
    if clash is not None:
        raise Conflict(message=f"canned response {shortcut!r} exists for this team")
    row = CannedResponse(team_id=team_id, shortcut=shortcut, body=body.strip(), created_at=now)
    session.add(row)
    session.flush()
    return row


def list_canned(session: Session, team: str | None = None) -> list[dict[str, Any]]:
    """Canned responses: every one, or ``team``'s and those for all teams."""
    query = (
        sa.select(CannedResponse, Team.name)
        .outerjoin(Team, Team.id == CannedResponse.team_id)
        .order_by(CannedResponse.shortcut, CannedResponse.id)
    )
    if team:
        query = query.where(sa.or_(CannedResponse.team_id.is_(None), Team.name == team))
    return [
        {"id": c.id, "shortcut": c.shortcut, "team": name, "body": c.body}
        for c, name in session.execute(query).tuples()
    ]


def delete_canned(session: Session, canned_id: int) -> None:
    row = session.get(CannedResponse, canned_id)
    if row is None:
        raise NotFound(message=f"no canned response {canned_id}")
    session.delete(row)
    session.flush()


def render(body: str, values: dict[str, str]) -> str:
    """``body`` with each ``{{variable}}`` replaced (an unknown value becomes empty)."""
    return VARIABLE.sub(lambda m: values.get(m.group(1), ""), body).strip()


def canned_text(session: Session, canned_id: int, values: dict[str, str]) -> str:
    row = session.get(CannedResponse, canned_id)
    if row is None:
        raise NotFound(message=f"no canned response {canned_id}")
    return render(row.body, values)


# -- status -----------------------------------------------------------------------------------


def _unpause(handoff: Handoff | None, now: datetime) -> None:
    if handoff is not None and handoff.paused_at is not None:
        if handoff.resolution_due_at is not None:
            handoff.resolution_due_at += now - handoff.paused_at
        handoff.paused_at = None


def open_again(session: Session, conversation: Conversation, now: datetime) -> None:
    """Status ``open`` (the resolution clock runs again if it was paused)."""
    _unpause(open_handoff_of(session, conversation.id), now)
    conversation.status, conversation.snoozed_until = STATUS_OPEN, None


def set_pending(session: Session, conversation: Conversation, now: datetime) -> None:
    """Waiting for the customer: the resolution clock stops until they write."""
    handoff = open_handoff_of(session, conversation.id)
    if handoff is not None and handoff.paused_at is None:
        handoff.paused_at = now
    conversation.status, conversation.snoozed_until = STATUS_PENDING, None


def snooze(session: Session, conversation: Conversation, until: datetime, now: datetime) -> None:
    if until <= now:
        raise WorkspaceInvalid(message="snooze until a time in the future")
    if until > now + timedelta(days=90):
        raise WorkspaceInvalid(message="snooze for at most 90 days")
    _unpause(open_handoff_of(session, conversation.id), now)
    conversation.status, conversation.snoozed_until = STATUS_SNOOZED, until


def resolve(session: Session, conversation: Conversation, now: datetime) -> Handoff | None:
    """Resolved: the open handoff (if any) closes and the bot holds the conversation again;
    returns the handoff closed."""
    handoff = open_handoff_of(session, conversation.id)
    if handoff is not None:
        _unpause(handoff, now)
        handoff.state, handoff.closed_at, handoff.resolved_at = HANDOFF_CLOSED, now, now
    conversation.status, conversation.snoozed_until = STATUS_RESOLVED, None
    conversation.resolved_at = now
    conversation.state, conversation.agent = STATE_BOT, None
    return handoff


def set_status(
    session: Session,
    conversation: Conversation,
    status: str,
    now: datetime,
    *,
    until: datetime | None = None,
) -> Handoff | None:
    """Move ``conversation`` to ``status``; the handoff closed by a resolution is returned."""
    if status not in STATUSES:
        raise WorkspaceInvalid(message=f"status must be one of {STATUSES}, not {status!r}")
    if status == STATUS_RESOLVED:
        return resolve(session, conversation, now)
    if status == STATUS_SNOOZED:
        if until is None:
            raise WorkspaceInvalid(message="snoozed needs a time to wake (until)")
        snooze(session, conversation, until, now)
    elif status == STATUS_PENDING:
        set_pending(session, conversation, now)
    else:
        open_again(session, conversation, now)
    return None


def parse_csat(reply_id: str | None) -> int | None:
    """The score of a survey answer's reply id (``csat:1`` .. ``csat:5``), else None."""
    if not reply_id or not reply_id.startswith(CSAT_PREFIX):
        return None
    tail = reply_id[len(CSAT_PREFIX) :]
    return int(tail) if tail in ("1", "2", "3", "4", "5") else None


def record_csat(
    session: Session, conversation_id: int, score: int, now: datetime, *, window: timedelta
) -> CsatAnswer | None:
    """Put ``score`` on the conversation's latest unanswered survey asked within ``window``."""
    row = session.scalars(
        sa.select(CsatAnswer)
        .where(
            CsatAnswer.conversation_id == conversation_id,
            CsatAnswer.answered_at.is_(None),
            CsatAnswer.asked_at >= now - window,
        )
        .order_by(CsatAnswer.id.desc())
    ).first()
    if row is not None:
        row.score, row.answered_at = score, now
    return row


def on_customer_message(
    session: Session,
    conversation: Conversation,
    *,
    reply_id: str | None,
    intent: str | None,
    now: datetime,
    csat_window: timedelta,
) -> str | None:
    """What a customer's message does to the status: ``"csat"`` (a survey answer recorded; the
    status stays), ``"reopened"`` (resolved, snoozed or pending → open), ``"confirmed"`` (the
    customer said it is solved on a conversation the bot holds: resolved), or None."""
    score = parse_csat(reply_id)
    if score is not None and record_csat(session, conversation.id, score, now, window=csat_window):
        return "csat"
    outcome = None
    if conversation.status != STATUS_OPEN:
        open_again(session, conversation, now)
        outcome = "reopened"
    confirmed = reply_id in CONFIRM_BUTTONS or intent in CONFIRM_INTENTS
    if (
        confirmed
        and conversation.state == STATE_BOT
        and open_handoff_of(session, conversation.id) is None
    ):
        conversation.status, conversation.resolved_at = STATUS_RESOLVED, now
        outcome = "confirmed"
    return outcome


def wake_snoozed(session: Session, now: datetime) -> list[int]:
    """Snoozed conversations whose time has come are open again; returns their ids."""
    rows = list(
        session.scalars(
            sa.select(Conversation).where(
                Conversation.status == STATUS_SNOOZED, Conversation.snoozed_until <= now
            )
        )
    )
    for row in rows:
        open_again(session, row, now)
    return [row.id for row in rows]


def resolution_breaches(session: Session, now: datetime) -> list[Handoff]:
    """Open handoffs past their resolution target (clock running), not yet counted (marks
    them)."""
    rows = list(
        session.scalars(
            sa.select(Handoff).where(
                Handoff.state != HANDOFF_CLOSED,
                Handoff.paused_at.is_(None),
                Handoff.resolution_due_at.is_not(None),
                Handoff.resolution_due_at < now,
                Handoff.resolution_breach_notified_at.is_(None),
            )
        )
    )
    for row in rows:
        row.resolution_breach_notified_at = now
    return rows


# -- notes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteView:
    id: int
    author: str
    text: str
    created_at: datetime


def add_note(
    session: Session, cipher: PiiCipher, conversation_id: int, author: str, text: str, now: datetime
) -> PrivateNote:
    if not text.strip() or len(text) > 4096:
        raise WorkspaceInvalid(message="a note is 1-4096 characters")
    row = PrivateNote(
        conversation_id=conversation_id,
        author=author,
        body_enc=cipher.encrypt(text.strip()),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def notes_of(session: Session, cipher: PiiCipher, conversation_id: int) -> list[NoteView]:
    query = (
        sa.select(PrivateNote)
        .where(PrivateNote.conversation_id == conversation_id)
        .order_by(PrivateNote.id)
    )
    return [
        NoteView(n.id, n.author, cipher.decrypt(n.body_enc), n.created_at)
        for n in session.scalars(query)
    ]


# -- CSAT -------------------------------------------------------------------------------------

SURVEY = {
    "es": (
        "¿Cómo calificarías la atención que recibiste? Elige de 1 (muy mala) a 5 (excelente).",
        "Calificar",
        ["1 · Muy mala", "2 · Mala", "3 · Regular", "4 · Buena", "5 · Excelente"],
    ),
    "en": (
        "How would you rate the help you got? Pick from 1 (very poor) to 5 (excellent).",
        "Rate",
        ["1 · Very poor", "2 · Poor", "3 · Fair", "4 · Good", "5 · Excellent"],
    ),
}
THANKS = {
    "es": "¡Gracias por tu calificación!",
    "en": "Thank you for your rating!",
}


def survey(language: str | None) -> tuple[str, dict[str, Any]]:
    """The survey's text and the list it is sent as (WhatsApp allows three reply buttons, so
    the five scores are the rows of a list message)."""
    body, button, titles = SURVEY.get(language or "es", SURVEY["en"])
    rows = [[f"{CSAT_PREFIX}{i + 1}", title, None] for i, title in enumerate(titles)]
    return body, {"button": button, "rows": rows}


def csat_thanks(language: str | None) -> str:
    return THANKS.get(language or "es", THANKS["en"])


def csat_report(session: Session, *, by: str) -> list[dict[str, Any]]:
    """Answered surveys grouped ``by`` agent or team: answers, mean score, share satisfied."""
    if by not in ("agent", "team"):
        raise WorkspaceInvalid(message=f"by must be agent or team, not {by!r}")
    satisfied = sa.func.sum(sa.case((CsatAnswer.score >= CSAT_SATISFIED, 1), else_=0))
    if by == "agent":
        key: Any = CsatAnswer.agent
        query = sa.select(key, sa.func.count(), sa.func.avg(CsatAnswer.score), satisfied)
    else:
        key = Team.name
        query = sa.select(key, sa.func.count(), sa.func.avg(CsatAnswer.score), satisfied).outerjoin(
            Team, Team.id == CsatAnswer.team_id
        )
    query = query.where(CsatAnswer.score.is_not(None)).group_by(key).order_by(key)
    return [
        {
            by: name,
            "answers": int(n),
            "mean": round(float(mean), 2),
            "satisfied_share": round(int(ok or 0) / int(n), 4),
        }
        for name, n, mean, ok in session.execute(query).tuples()
    ]


# -- demo -------------------------------------------------------------------------------------

DEMO_TEAMS = ("billing", "technical", "customer_service")
DEMO_AGENTS = (
    ("web:lucia", "Lucía", ["es"], 4, ["billing", "customer_service"]),
    ("web:tom", "Tom", ["en"], 4, ["billing", "technical"]),
    ("web:sam", "Sam", ["en", "es"], 3, ["technical", "customer_service"]),
)
DEMO_CANNED = (
    ("hello", "Hola {{first_name}}, soy {{agent}}. ¿En qué te puedo ayudar?", None),
    ("invoice", "{{first_name}}, te enviamos la factura en unos minutos.", "billing"),
    ("tags", "{{first_name}}, please check that the tag is on every page.", "technical"),
)


def seed_demo(session: Session, now: datetime) -> bool:
    """Teams, agents and canned responses for ``ssmas demo`` (once: False when teams exist)."""
    if session.scalars(sa.select(Team.id)).first() is not None:
        return False
    for name in DEMO_TEAMS:
        add_team(session, name, now)
    for handle, name, languages, capacity, teams in DEMO_AGENTS:
        add_agent(
            session,
            handle=handle,
            name=name,
            languages=languages,
            capacity=capacity,
            teams=teams,
            now=now,
        )
    add_rule(
        session, team="billing", intent=None, language=None, priority="urgent", position=10, now=now
    )
    for shortcut, body, team in DEMO_CANNED:
        add_canned(session, shortcut=shortcut, body=body, team=team, now=now)
    return True
