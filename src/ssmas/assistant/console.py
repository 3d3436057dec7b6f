"""The agent console's use cases: list and read conversations, take over, reply, hand back,
and the agent workspace (status, notes, canned responses, rich replies, assignment, CSAT, the
directory of teams, agents and rules).

Each call is one transaction and is audited (ids and names, never a customer's words). An agent
reply is stored as an outbound message and published to ``assistant.outbound`` for the outbound
worker to send (with the template fallback when the 24-hour window has closed); replying implies
taking the conversation over and leaves it ``pending`` (waiting for the customer). Resolving
closes the handoff and, with ``csat_survey``, sends the 1-5 survey.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ssmas.assistant import workspace as ws
from ssmas.assistant.events import TOPIC_OUTBOUND, OutboundRequest
from ssmas.assistant.handoff import (
    ConversationNotFound,
    QueueEntry,
    agent_queue,
    hand_back,
    note_agent_response,
    open_handoff_of,
    take_over,
)
from ssmas.assistant.routing import Move, assign, move_one, waiting_moves
from ssmas.assistant.store import add_outbound, messages_of
from ssmas.assistant.tables import (
    STATUS_RESOLVED,
    STATUS_SNOOZED,
    Agent,
    Conversation,
    CsatAnswer,
    Team,
)
from ssmas.core.bus import Bus
from ssmas.core.cache import Cache
from ssmas.core.db import UnitOfWork
from ssmas.core.security import PiiCipher, record_audit
from ssmas.settings import WhatsAppSettings

RICH_KINDS = ("text", "buttons", "list", "image", "document")


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    state: str
    agent: str | None
    language: str | None
    turns: int
    phone_last4: str
    name: str | None
    last_activity_at: datetime
    status: str = "open"
    snoozed_until: datetime | None = None


@dataclass(frozen=True)
class MessageView:
    id: int
    direction: str
    author: str
    kind: str
    text: str
    state: str
    intent: str | None
    sentiment: str | None
    created_at: datetime


@dataclass
class Console:
    """Agent actions over the platform's database and bus."""

    session_factory: sessionmaker[Session]
    cipher: PiiCipher
    bus: Bus
    cache: Cache
    settings: WhatsAppSettings = field(default_factory=WhatsAppSettings)

    def _summary(self, row: Conversation) -> ConversationSummary:
        phone = self.cipher.decrypt(row.phone_enc)
        return ConversationSummary(
            id=row.id,
            state=row.state,
            agent=row.agent,
            language=row.language,
            turns=row.turns,
            phone_last4=phone[-4:],
            name=self.cipher.decrypt(row.name_enc) if row.name_enc else None,
            last_activity_at=row.last_activity_at,
            status=row.status,
            snoozed_until=row.snoozed_until,
        )

    def conversations(
        self, *, state: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[ConversationSummary]:
        """Most recently active first, optionally only one state and / or status."""
        query = sa.select(Conversation).order_by(Conversation.last_activity_at.desc()).limit(limit)
        if state:
            query = query.where(Conversation.state == state)
        if status:
            query = query.where(Conversation.status == status)
        with UnitOfWork(self.session_factory) as uow:
            return [self._summary(row) for row in uow.session.scalars(query)]

    def conversation(
        self, conversation_id: int, *, actor: str, limit: int = 200
    ) -> tuple[ConversationSummary, list[MessageView]]:
        """One conversation with its decrypted messages; the read is audited."""
        with UnitOfWork(self.session_factory) as uow:
            row = uow.session.get(Conversation, conversation_id)
            if row is None:
                raise ConversationNotFound(message=f"no conversation {conversation_id}")
            views = [
                MessageView(
                    id=m.id,
                    direction=m.direction,
                    author=m.author,
                    kind=m.kind,
                    text=self.cipher.decrypt(m.body_enc),
                    state=m.state,
                    intent=m.intent,
                    sentiment=m.sentiment,
                    created_at=m.created_at,
                )
                for m in messages_of(uow.session, conversation_id, limit)
            ]
            record_audit(
                uow.session,
                actor=actor,
                action="assistant.conversation.read",
                target=f"conversation:{conversation_id}",
            )
            uow.commit()
            return self._summary(row), views

    def take_over(
        self, conversation_id: int, agent: str, now: datetime, *, label: str | None = None
    ) -> ConversationSummary:
        """``agent`` (the authenticated caller: ``apikey:<prefix>``, ``web:<name>``) owns the
        conversation; ``label`` (a name the caller gives itself) is recorded beside it."""
        with UnitOfWork(self.session_factory) as uow:
            row = take_over(uow.session, conversation_id, agent, now)
            if row.status in (STATUS_RESOLVED, STATUS_SNOOZED):  # someone works on it again
                ws.open_again(uow.session, row, now)
            record_audit(
                uow.session,
                actor=agent,
                action="assistant.takeover",
                target=f"conversation:{row.id}",
                details=_labelled(label),
            )
            uow.commit()
            return self._summary(row)

    def hand_back(
        self, conversation_id: int, agent: str, now: datetime, *, label: str | None = None
    ) -> ConversationSummary:
        with UnitOfWork(self.session_factory) as uow:
            row = hand_back(uow.session, conversation_id, agent, now)
            record_audit(
                uow.session,
                actor=agent,
                action="assistant.handback",
                target=f"conversation:{row.id}",
                details=_labelled(label),
            )
            uow.commit()
            summary = self._summary(row)
        self.cache.delete(f"assistant:ctx:{conversation_id}")
        return summary

    def reply(
        self,
        conversation_id: int,
        agent: str,
        text: str,
        now: datetime,
        *,
        label: str | None = None,
        kind: str = "text",
        buttons: list[tuple[str, str]] | None = None,
        rows: list[tuple[str, str, str | None]] | None = None,
        list_button: str | None = None,
        link: str | None = None,
        filename: str | None = None,
        canned_id: int | None = None,
    ) -> int:
        """Queue an agent's message to the customer (audited, never its text); returns the
        stored message id. ``kind``: text, buttons (1-3 ``(id, title)``), list (1-10 rows
        ``(id, title, description)`` behind ``list_button``), image or document (``link``, the
        text as caption). ``canned_id``: the text is that canned response, variables filled."""
        if kind not in RICH_KINDS:
            raise ws.WorkspaceInvalid(message=f"kind must be one of {RICH_KINDS}, not {kind!r}")
        with UnitOfWork(self.session_factory) as uow:
            row = take_over(uow.session, conversation_id, agent, now)
            if canned_id is not None:
                text = ws.canned_text(
                    uow.session, canned_id, self._variables(uow, row, agent, label)
                )
            meta, out_kind = _rich_meta(kind, text, buttons, rows, list_button, link, filename)
            message = add_outbound(
                uow.session,
                self.cipher,
                row,
                text=text,
                author="agent",
                now=now,
                kind=out_kind,
                language=row.language,
                meta={"agent": agent, **_labelled(label), **meta},
            )
            note_agent_response(uow.session, conversation_id, now)
            ws.set_pending(uow.session, row, now)
            details: dict[str, Any] = {"message_id": message.id, "kind": kind, **_labelled(label)}
            if canned_id is not None:
                details["canned_id"] = canned_id
            record_audit(
                uow.session,
                actor=agent,
                action="assistant.reply",
                target=f"conversation:{row.id}",
                details=details,
            )
            uow.commit()
            message_id = message.id
        self._publish(message_id, now)
        self.cache.delete(f"assistant:ctx:{conversation_id}")
        return message_id

    def _publish(self, message_id: int, now: datetime) -> None:
        request = OutboundRequest(message_id=message_id, requested_at=now)
        self.bus.publish(TOPIC_OUTBOUND, request.model_dump(mode="json"), key=f"out{message_id}")

    def _variables(
        self, uow: UnitOfWork, row: Conversation, agent: str, label: str | None
    ) -> dict[str, str]:
        name = self.cipher.decrypt(row.name_enc) if row.name_enc else ""
        found = uow.session.scalars(sa.select(Agent).where(Agent.handle == agent)).first()
        return {
            "name": name,
            "first_name": name.split()[0] if name.strip() else "",
            "agent": found.name if found is not None else (label or agent.split(":", 1)[-1]),
            "conversation": str(row.id),
            "phone_last4": self.cipher.decrypt(row.phone_enc)[-4:],
        }

    def _locked(self, uow: UnitOfWork, conversation_id: int) -> Conversation:
        row = uow.session.get(Conversation, conversation_id, with_for_update=True)
        if row is None:
            raise ConversationNotFound(message=f"no conversation {conversation_id}")
        return row

    def add_note(self, conversation_id: int, agent: str, text: str, now: datetime) -> int:
        """A private note: stored encrypted, shown to agents, never sent or given to the bot."""
        with UnitOfWork(self.session_factory) as uow:
            self._locked(uow, conversation_id)
            note = ws.add_note(uow.session, self.cipher, conversation_id, agent, text, now)
            record_audit(
                uow.session,
                actor=agent,
                action="assistant.note",
                target=f"conversation:{conversation_id}",
                details={"note_id": note.id},
            )
            uow.commit()
            return note.id

    def set_status(
        self,
        conversation_id: int,
        agent: str,
        status: str,
        now: datetime,
        *,
        until: datetime | None = None,
    ) -> ConversationSummary:
        """Move the conversation to ``status`` (resolving sends the CSAT survey)."""
        survey_id: int | None = None
        with UnitOfWork(self.session_factory) as uow:
            row = self._locked(uow, conversation_id)
            was_open = row.status != STATUS_RESOLVED
            handoff = ws.set_status(uow.session, row, status, now, until=until)
            if status == STATUS_RESOLVED and was_open and self.settings.csat_survey:
                body, listing = ws.survey(row.language)
                message = add_outbound(
                    uow.session,
                    self.cipher,
                    row,
                    text=body,
                    author="system",
                    now=now,
                    kind="interactive",
                    language=row.language,
                    meta={"list": listing, "csat": True},
                )
                uow.session.add(
                    CsatAnswer(
                        conversation_id=row.id,
                        handoff_id=handoff.id if handoff is not None else None,
                        agent=(handoff.agent if handoff is not None else None) or agent,
                        team_id=handoff.team_id if handoff is not None else None,
                        asked_at=now,
                    )
                )
                survey_id = message.id
            record_audit(
                uow.session,
                actor=agent,
                action=f"assistant.status.{status}",
                target=f"conversation:{row.id}",
                details={"until": until.isoformat()} if until is not None else {},
            )
            uow.commit()
            summary = self._summary(row)
        if survey_id is not None:
            self._publish(survey_id, now)
        if status == STATUS_RESOLVED:
            self.cache.delete(f"assistant:ctx:{conversation_id}")
        return summary

    def assign(
        self,
        conversation_id: int,
        actor: str,
        now: datetime,
        *,
        team: str | None = None,
        agent: str | None = None,
    ) -> dict[str, Any]:
        """Route the conversation's open handoff to ``team`` (round robin) and/or to ``agent``."""
        with UnitOfWork(self.session_factory) as uow:
            row = self._locked(uow, conversation_id)
            handoff = open_handoff_of(uow.session, conversation_id)
            if handoff is None:
                raise ws.WorkspaceConflict(message="the conversation has no open handoff")
            if team is not None:
                handoff.team_id = ws.team_by_name(uow.session, team).id
            if agent is not None:
                chosen = ws.agent_by_handle(uow.session, agent)
                handoff.state, handoff.agent, handoff.assigned_at = "assigned", chosen.handle, now
                row.agent = chosen.handle
            else:
                assign(uow.session, handoff, row, now)
            record_audit(
                uow.session,
                actor=actor,
                action="assistant.assign",
                target=f"conversation:{row.id}",
                details={"team": team, "agent": handoff.agent},
            )
            uow.commit()
            return {"conversation_id": row.id, "team_id": handoff.team_id, "agent": handoff.agent}

    def workspace_view(self, conversation_id: int) -> dict[str, Any]:
        """What the conversation page shows beside the messages: notes, handoff and clocks,
        team, canned responses for it, the latest CSAT."""
        with UnitOfWork(self.session_factory) as uow:
            s = uow.session
            handoff = open_handoff_of(s, conversation_id)
            team = s.get(Team, handoff.team_id) if handoff and handoff.team_id else None
            csat = s.scalars(
                sa.select(CsatAnswer)
                .where(CsatAnswer.conversation_id == conversation_id)
                .order_by(CsatAnswer.id.desc())
            ).first()
            return {
                "notes": ws.notes_of(s, self.cipher, conversation_id),
                "handoff": handoff,
                "team": team.name if team else None,
                "canned": ws.list_canned(s, team.name if team else None),
                "csat": csat.score if csat is not None else None,
                "csat_asked": csat is not None,
                "teams": [t.name for t in ws.list_teams(s)],
                "agents": [a.handle for a in ws.list_agents(s)],
            }

    # -- directory --------------------------------------------------------------------------

    def directory(self, action: str, actor: str, now: datetime, **fields: Any) -> Any:
        """One audited change of teams, agents, rules or canned responses (``action``: a
        ``workspace`` function's name); an agent's status or capacity change rebalances."""
        with UnitOfWork(self.session_factory) as uow:
            s = uow.session
            result: Any
            target: str
            if action == "add_team":
                team = ws.add_team(s, fields["name"], now)
                result, target = {"id": team.id, "name": team.name}, f"team:{team.name}"
            elif action == "add_agent":
                a = ws.add_agent(s, now=now, **fields)
                result, target = {"id": a.id, "handle": a.handle}, f"agent:{a.handle}"
            elif action == "update_agent":
                a = ws.update_agent(s, **fields)
                result = {"handle": a.handle, "status": a.status, "capacity": a.capacity}
                target = f"agent:{a.handle}"
            elif action == "add_rule":
                r = ws.add_rule(s, now=now, **fields)
                result, target = {"id": r.id}, f"rule:{r.id}"
            elif action == "delete_rule":
                ws.delete_rule(s, fields["rule_id"])
                result, target = {"deleted": fields["rule_id"]}, f"rule:{fields['rule_id']}"
            elif action == "add_canned":
                c = ws.add_canned(s, now=now, **fields)
                result, target = {"id": c.id, "shortcut": c.shortcut}, f"canned:{c.id}"
            elif action == "delete_canned":
                ws.delete_canned(s, fields["canned_id"])
                result, target = {"deleted": fields["canned_id"]}, f"canned:{fields['canned_id']}"
            else:
                raise ValueError(f"unknown directory action {action}")
            safe = {k: v for k, v in fields.items() if k != "body"}
            record_audit(
                s, actor=actor, action=f"assistant.{action}", target=target, details=_plain(safe)
            )
            uow.commit()
        if action == "update_agent":
            moves = self.rebalance(actor, now, only=[result["handle"]])
            result["reassigned"] = [m.__dict__ for m in moves]
        return result

    def rebalance(self, actor: str, now: datetime, *, only: list[str] | None = None) -> list[Move]:
        """Move unanswered handoffs off agents who are away or over capacity, one audited
        transaction per move."""
        with UnitOfWork(self.session_factory) as uow:
            candidates = waiting_moves(uow.session, only=only)
        moves: list[Move] = []
        for handoff_id in candidates:
            with UnitOfWork(self.session_factory) as uow:
                move = move_one(uow.session, handoff_id, now)
                if move is None:
                    continue
                record_audit(
                    uow.session,
                    actor=actor,
                    action="assistant.reassign",
                    target=f"conversation:{move.conversation_id}",
                    details={"from": move.from_agent, "to": move.to_agent},
                )
                uow.commit()
                moves.append(move)
        return moves

    def listing(self, what: str, **fields: Any) -> Any:
        with UnitOfWork(self.session_factory) as uow:
            s = uow.session
            if what == "teams":
                return [t.__dict__ for t in ws.list_teams(s)]
            if what == "agents":
                return [a.__dict__ for a in ws.list_agents(s)]
            if what == "rules":
                return ws.list_rules(s)
            if what == "canned":
                return ws.list_canned(s, fields.get("team"))
            if what == "csat":
                return ws.csat_report(s, by=fields.get("by", "agent"))
            raise ValueError(f"unknown listing {what}")

    def sweep(self, now: datetime) -> dict[str, Any]:
        """Wake snoozed conversations, rebalance away / over-capacity agents, count resolution
        breaches (the SLA worker calls this every pass)."""
        with UnitOfWork(self.session_factory) as uow:
            woken = ws.wake_snoozed(uow.session, now)
            breaches = ws.resolution_breaches(uow.session, now)
            uow.commit()
        moves = self.rebalance("system:sla-sweep", now)
        return {"woken": woken, "moves": moves, "resolution_breaches": breaches}

    def queue(self, now: datetime, *, team: str | None = None) -> list[QueueEntry]:
        with UnitOfWork(self.session_factory) as uow:
            return agent_queue(uow.session, now, team=team)


def _labelled(label: str | None) -> dict[str, str]:
    return {"agent_name": label} if label else {}


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


def _rich_meta(
    kind: str,
    text: str,
    buttons: list[tuple[str, str]] | None,
    rows: list[tuple[str, str, str | None]] | None,
    list_button: str | None,
    link: str | None,
    filename: str | None,
) -> tuple[dict[str, Any], str]:
    """The outbox meta and stored kind of a rich reply, checked against WhatsApp's limits."""
    bad = ws.WorkspaceInvalid
    if kind in ("text", "buttons", "list") and not text.strip():
        raise bad(message="the reply needs a text")
    if len(text) > (1024 if kind != "text" else 4096):
        raise bad(message="the text is too long for this kind of message")
    if kind == "buttons":
        if not buttons or not 1 <= len(buttons) <= 3:
            raise bad(message="buttons: one to three (id, title)")
        if any(not b[0] or not b[1] or len(b[1]) > 20 or len(b[0]) > 256 for b in buttons):
            raise bad(message="a button has an id and a title of 1-20 characters")
        if len({b[0] for b in buttons}) != len(buttons):
            raise bad(message="button ids must differ")
        return {"buttons": [list(b) for b in buttons]}, "interactive"
    if kind == "list":
        if not rows or not 1 <= len(rows) <= 10:
            raise bad(message="list: one to ten rows")
        if any(not r[0] or not r[1] or len(r[1]) > 24 or len(r[0]) > 200 for r in rows):
            raise bad(message="a list row has an id and a title of 1-24 characters")
        if any(r[2] is not None and len(r[2]) > 72 for r in rows):
            raise bad(message="a row's description is at most 72 characters")
        label = (list_button or "").strip()
        if not 1 <= len(label) <= 20:
            raise bad(message="list_button: the list's button label, 1-20 characters")
        return {"list": {"button": label, "rows": [list(r) for r in rows]}}, "interactive"
    if kind in ("image", "document"):
        if not link or not link.startswith(("https://", "http://")) or len(link) > 2048:
            raise bad(message="an image or document needs an http(s) link")
        media: dict[str, Any] = {"link": link}
        if filename:
            if kind != "document" or len(filename) > 240:
                raise bad(message="filename: documents only, at most 240 characters")
            media["filename"] = filename
        return {"media": media}, kind
    return {}, "text"
