"""Deliver stored outbound messages to WhatsApp, once.

A message is sent only by the worker that claims it (``store.claim_outbound``, or the text
pipeline, which stores its replies already claimed); a claim older than the lease belongs to a
worker that died mid-send and is taken over. Outside the 24-hour window (or when WhatsApp
answers 131047) a template goes out instead of free text. Retryable failures hand the claim back
and raise, so the bus delivers the work again later.

``send_claimed`` sends many claimed messages at once: concurrently on a small thread pool (the
Graph client's pooled keep-alive connections and its pacer are thread-safe, so the per-number
and per-recipient limits still hold), then one transaction records them sent, then the
mark-as-read calls go out (best effort).

Every send carries the row's ``send_token`` as ``biz_opaque_callback_data``. Meta echoes it in
the message's status webhooks, which record it (and record the row sent, ``settle_by_token``);
so before taking over a lapsed claim, ``deliver`` looks for such a status and, when one exists,
records the row sent under Meta's id instead of sending it a second time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from ssmas.assistant import metrics
from ssmas.assistant.store import (
    SETTLED,
    accepted_send,
    claim_outbound,
    mark_failed,
    mark_sent,
    mark_sent_many,
    send_token,
    settle_by_token,
)
from ssmas.assistant.tables import OUT_PENDING, OUT_SENDING, OUT_SENT, ChatMessage, Conversation
from ssmas.assistant.whatsapp.client import GraphClient, GraphError, SendResult, WindowClosed
from ssmas.assistant.whatsapp.config import WhatsAppSettings
from ssmas.core.db import UnitOfWork
from ssmas.core.security import PiiCipher
from ssmas.core.worker import RetryLater

log = structlog.get_logger(__name__)

TEMPLATE_LANGUAGES = {"es": "es", "en": "en_US"}


class SendDeferred(RuntimeError):
    """A send failed in a way worth retrying later (rate limit, Graph outage)."""


class SendClaimed(RetryLater):
    """Another worker holds a fresh claim on the row: look again once it may have lapsed."""


@dataclass(frozen=True)
class SendJob:
    """What sending one claimed outbound row needs, read or known beforehand."""

    message_id: int
    to: str
    text: str
    kind: str
    reply_to: str | None
    language: str
    window_open: bool
    meta: dict[str, Any]
    token: str  # ``send_token`` of the row: sent as ``biz_opaque_callback_data``


@dataclass
class Outbox:
    """Sends outbound rows through the Graph client and records the outcome."""

    session_factory: sessionmaker[Session]
    client: GraphClient
    cipher: PiiCipher
    settings: WhatsAppSettings
    clock: Callable[[], datetime]
    lease_s: float = 30.0
    concurrency: int = 16
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def close(self) -> None:
        """Stop the send threads (waits for sends under way)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _threads(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="outbox")
            return self._pool

    def send_claimed(
        self, jobs: Sequence[SendJob], *, mark_read: bool = False
    ) -> dict[int, str | Exception]:
        """Send rows this worker has claimed; returns per message id ``"sent"``, ``"failed"``
        (given up, recorded) or the ``SendDeferred`` to raise (handed back as pending)."""
        if not jobs:
            return {}
        if len(jobs) == 1:
            outcomes = [self._attempt(jobs[0])]
        else:
            outcomes = list(self._threads().map(self._attempt, jobs))
        states: dict[int, str | Exception] = {}
        sent: list[tuple[int, str, dict[str, Any]]] = []
        for job, result, _ in outcomes:
            if result is not None:
                sent.append((job.message_id, result[0].wa_id, result[1]))
                states[job.message_id] = "sent"
        if sent:
            with UnitOfWork(self.session_factory) as uow:
                mark_sent_many(uow.session, sent, now=self.clock())
                uow.commit()
        for job, _, exc in outcomes:
            if exc is None:
                continue
            retry = isinstance(exc, SendDeferred) or (isinstance(exc, GraphError) and exc.retryable)
            self._settle_failure(job.message_id, exc, retry)
            states[job.message_id] = SendDeferred(str(exc)) if retry else "failed"
        for state in states.values():
            metrics.SENDS.labels(state if isinstance(state, str) else "deferred").inc()
        if mark_read:
            read = [job.reply_to for job, result, _ in outcomes if result and job.reply_to]
            if len(read) == 1:
                self._mark_read(read[0])
            elif read:
                list(self._threads().map(self._mark_read, read))
        return states

    def _attempt(
        self, job: SendJob
    ) -> tuple[SendJob, tuple[SendResult, dict[str, Any]] | None, Exception | None]:
        try:
            return job, self._send(job), None
        except (SendDeferred, GraphError) as exc:
            return job, None, exc

    def _mark_read(self, wa_id: str) -> None:
        try:
            self.client.mark_read(wa_id)
        except GraphError as exc:
            log.info("mark_read_failed", code=exc.code, status=exc.status)

    def deliver(self, message_id: int, *, wait: bool = True) -> str:
        """Send ``message_id`` if it is still unsent; returns its state afterwards.

        When another worker holds a fresh claim, wait for it to finish or for its lease to
        lapse (it died) and take over; so a redelivered message never drops its reply. With
        ``wait`` false, raise ``SendClaimed`` (a ``RetryLater`` until the claim lapses) instead:
        a bus consumer then looks again later and handles other messages meanwhile — among
        them the status webhook that proves the dead worker's send was accepted.

        The worker that held the claim may have died after the Graph API accepted the message
        and before recording it. So a row tried before is first looked up among the status
        webhooks by its send token (``accepted_send``): a status proves Meta accepted it, and
        the row is recorded sent under that message id (``send_recovered``) without sending.
        Without such proof the choice is explicit: send again rather than risk never answering
        (a status still on its way is not seen), and log ``send_takeover`` with the row id, the
        attempt number and how long the claim had been held.
        """
        deadline = time.monotonic() + self.lease_s + 1.0
        while True:
            now = self.clock()
            with UnitOfWork(self.session_factory) as uow:
                before = uow.session.get(ChatMessage, message_id)
                prior = (before.state, before.claimed_at) if before is not None else None
                claimed = claim_outbound(uow.session, message_id, now=now, lease_s=self.lease_s)
                uow.commit()
                row = uow.session.get(ChatMessage, message_id, populate_existing=True)
                if row is None:
                    return "missing"
                if claimed:
                    if row.attempts > 1 and self._recovered(uow, row, now):
                        return OUT_SENT
                    if prior is not None and prior[0] == OUT_SENDING:
                        held = (now - prior[1]).total_seconds() if prior[1] else None
                        log.warning(
                            "send_takeover",
                            message_id=message_id,
                            attempt=row.attempts,
                            claim_held_s=held,
                            risk="the previous sender may have been accepted: possible duplicate",
                        )
                    job = self._job(uow.session, row, now)
                    break
                if row.state != OUT_SENDING or time.monotonic() > deadline:
                    return row.state
                if not wait:
                    held = (now - row.claimed_at).total_seconds() if row.claimed_at else 0.0
                    left = self.lease_s - held + 0.5
                    raise SendClaimed(f"reply {message_id} is claimed by another sender", left)
            time.sleep(0.1)
        try:
            result, meta = self._send(job)
        except (SendDeferred, GraphError) as exc:
            retry = isinstance(exc, SendDeferred) or (isinstance(exc, GraphError) and exc.retryable)
            self._settle_failure(message_id, exc, retry)
            metrics.SENDS.labels("deferred" if retry else "failed").inc()
            if retry:
                raise SendDeferred(str(exc)) from exc
            return "failed"
        with UnitOfWork(self.session_factory) as uow:
            mark_sent(uow.session, message_id, wa_id=result.wa_id, now=self.clock(), meta=meta)
            uow.commit()
        metrics.SENDS.labels("sent").inc()
        return "sent"

    def _recovered(self, uow: UnitOfWork, row: ChatMessage, now: datetime) -> bool:
        """Whether a status webhook proves an earlier try of ``row`` (claimed by this worker)
        was accepted; if so the row is now recorded sent under Meta's message id."""
        message_id, attempt = row.id, row.attempts
        token = send_token(message_id, row.created_at)
        evidence = accepted_send(uow.session, token)
        if evidence is None:
            return False
        wa_id, status = evidence.wa_id, evidence.status
        outcome = settle_by_token(uow.session, token, wa_id=wa_id, now=now)
        uow.commit()
        log.info(
            "send_recovered", message_id=message_id, attempt=attempt, status=status, outcome=outcome
        )
        # Anything but SETTLED means Meta's id is already on another row (the data disagrees
        # with itself): sending again is the at-least-once choice.
        return outcome == SETTLED

    def _job(self, session: Session, row: ChatMessage, now: datetime) -> SendJob:
        conversation = session.get(Conversation, row.conversation_id)
        assert conversation is not None
        reply_to = session.get(ChatMessage, row.reply_to_id) if row.reply_to_id else None
        last = conversation.last_inbound_at
        window = timedelta(hours=self.settings.window_hours)
        return SendJob(
            message_id=row.id,
            to=self.cipher.decrypt(conversation.phone_enc),
            text=self.cipher.decrypt(row.body_enc),
            kind=row.kind,
            reply_to=reply_to.wa_id if reply_to is not None else None,
            language=row.language or conversation.language or "es",
            window_open=last is not None and now - last < window,
            meta=dict(row.meta or {}),
            token=send_token(row.id, row.created_at),
        )

    def _template(self, job: SendJob, why: str) -> tuple[SendResult, dict[str, Any]]:
        name = self.settings.reengagement_template
        language = TEMPLATE_LANGUAGES.get(job.language, job.language)
        result = self.client.send_template(job.to, name, language, callback_data=job.token)
        return result, {"template": name, "template_reason": why}

    def _send(self, job: SendJob) -> tuple[SendResult, dict[str, Any]]:
        if job.kind == "template" or not job.window_open:
            return self._template(job, "template" if job.kind == "template" else "window_closed")
        try:
            buttons = job.meta.get("buttons")
            if buttons:
                pairs = [(str(b[0]), str(b[1])) for b in buttons]
                sent = self.client.send_buttons(job.to, job.text, pairs, callback_data=job.token)
                return sent, {}
            listing = job.meta.get("list")
            if listing:
                rows = [
                    (str(r[0]), str(r[1]), r[2] if len(r) > 2 else None) for r in listing["rows"]
                ]
                sent = self.client.send_list(
                    job.to, job.text, str(listing["button"]), rows, callback_data=job.token
                )
                return sent, {}
            media = job.meta.get("media")
            if media and job.kind in ("image", "document"):
                sent = self.client.send_media(
                    job.to,
                    job.kind,
                    str(media["link"]),
                    caption=job.text or None,
                    filename=media.get("filename"),
                    callback_data=job.token,
                )
                return sent, {}
            sent = self.client.send_text(
                job.to, job.text, reply_to=job.reply_to, callback_data=job.token
            )
            return sent, {}
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
