"""Deliver stored outbound messages to WhatsApp, once.

A message is sent only by the worker that claims it (``store.claim_outbound``); a claim older
than the lease belongs to a worker that died mid-send and is taken over. Outside the 24-hour
window (or when WhatsApp answers 131047) a template goes out instead of free text. Retryable
failures hand the claim back and raise, so the bus delivers the work again later.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from ssmas.assistant.store import claim_outbound, mark_failed, mark_sent
from ssmas.assistant.tables import OUT_PENDING, OUT_SENDING, ChatMessage, Conversation
from ssmas.assistant.whatsapp.client import GraphClient, GraphError, SendResult, WindowClosed
from ssmas.assistant.whatsapp.config import WhatsAppSettings
from ssmas.core.db import UnitOfWork
from ssmas.core.security import PiiCipher

log = structlog.get_logger(__name__)

TEMPLATE_LANGUAGES = {"es": "es", "en": "en_US"}


class SendDeferred(RuntimeError):
    """A send failed in a way worth retrying later (rate limit, Graph outage)."""


@dataclass(frozen=True)
class _Job:
    to: str
    text: str
    kind: str
    reply_to: str | None
    language: str
    window_open: bool
    meta: dict[str, Any]


@dataclass
class Outbox:
    """Sends outbound rows through the Graph client and records the outcome."""

    session_factory: sessionmaker[Session]
    client: GraphClient
    cipher: PiiCipher
    settings: WhatsAppSettings
    clock: Callable[[], datetime]
    lease_s: float = 30.0

    def deliver(self, message_id: int) -> str:
        """Send ``message_id`` if it is still unsent; returns its state afterwards.

        When another worker holds a fresh claim, wait for it to finish or for its lease to
        lapse (it died) and take over; so a redelivered message never drops its reply.
        """
        deadline = time.monotonic() + self.lease_s + 1.0
        while True:
            now = self.clock()
            with UnitOfWork(self.session_factory) as uow:
                claimed = claim_outbound(uow.session, message_id, now=now, lease_s=self.lease_s)
                uow.commit()
                row = uow.session.get(ChatMessage, message_id, populate_existing=True)
                if row is None:
                    return "missing"
                if claimed:
                    job = self._job(uow.session, row, now)
                    break
                if row.state != OUT_SENDING or time.monotonic() > deadline:
                    return row.state
            time.sleep(0.1)
        try:
            result, meta = self._send(job)
        except (SendDeferred, GraphError) as exc:
            retry = isinstance(exc, SendDeferred) or (isinstance(exc, GraphError) and exc.retryable)
            self._settle_failure(message_id, exc, retry)
            if retry:
                raise SendDeferred(str(exc)) from exc
            return "failed"
        with UnitOfWork(self.session_factory) as uow:
            mark_sent(uow.session, message_id, wa_id=result.wa_id, now=self.clock(), meta=meta)
            uow.commit()
        return "sent"

    def _job(self, session: Session, row: ChatMessage, now: datetime) -> _Job:
        conversation = session.get(Conversation, row.conversation_id)
        assert conversation is not None
        reply_to = session.get(ChatMessage, row.reply_to_id) if row.reply_to_id else None
        last = conversation.last_inbound_at
        window = timedelta(hours=self.settings.window_hours)
        return _Job(
            to=self.cipher.decrypt(conversation.phone_enc),
            text=self.cipher.decrypt(row.body_enc),
            kind=row.kind,
            reply_to=reply_to.wa_id if reply_to is not None else None,
            language=row.language or conversation.language or "es",
            window_open=last is not None and now - last < window,
            meta=dict(row.meta or {}),
        )

    def _template(self, job: _Job, why: str) -> tuple[SendResult, dict[str, Any]]:
        name = self.settings.reengagement_template
        language = TEMPLATE_LANGUAGES.get(job.language, job.language)
        result = self.client.send_template(job.to, name, language)
        return result, {"template": name, "template_reason": why}

    def _send(self, job: _Job) -> tuple[SendResult, dict[str, Any]]:
        if job.kind == "template" or not job.window_open:
            return self._template(job, "template" if job.kind == "template" else "window_closed")
        try:
            buttons = job.meta.get("buttons")
            if buttons:
                pairs = [(str(b[0]), str(b[1])) for b in buttons]
                return self.client.send_buttons(job.to, job.text, pairs), {}
            return self.client.send_text(job.to, job.text, reply_to=job.reply_to), {}
        except WindowClosed:
            log.info("window_closed_fallback_template")
            return self._template(job, "131047")

    def _settle_failure(self, message_id: int, exc: Exception, retry: bool) -> None:
        code = exc.code if isinstance(exc, GraphError) else None
        log.warning("send_failed", message_id=message_id, code=code, retry=retry)
        with UnitOfWork(self.session_factory) as uow:
            if retry:
                row = uow.session.get(ChatMessage, message_id)
                if row is not None and row.state == OUT_SENDING:
                    row.state = OUT_PENDING
            else:
                mark_failed(uow.session, message_id, error_code=code, now=self.clock())
            uow.commit()
