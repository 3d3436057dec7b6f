"""The sender: claims due ledger rows, applies the sending rules, sends, records.

One pass (``Sender.run_once``): claim a batch under a lease; drop rows whose phone opted out
or whose recipient reached a frequency cap; put back rows that fall in the recipient's quiet
hours or over the tenant's rate; send the rest concurrently (SMS through the provider,
WhatsApp as a template request on the bus for the assistant); record the outcomes in one
transaction, with the exposures of the recipients sent a variant's text of a running
experiment (``ssmas.campaigns.live.experiments.record_exposures``), so its results count them.

No message twice, even when a sender is killed (SIGKILL) between the provider accepting a
message and the ledger recording it: such a row's lease lapses and another sender claims it.
Because ``first_try_at`` is set before any request leaves, the new sender knows the row may
have gone out, and asks the provider (``find``: messages to that number since the first try)
before sending; a match is recorded as the send. The request also carries the row's key as
``Idempotency-Key``, and its status callback names the key, so a receipt records the row too.
A WhatsApp request is published with the row's key as the bus key: publishing again stores
nothing.

``LedgerSender`` is the ``CampaignSender`` the campaign's launch calls (``enqueue``, ``counts``).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from ssmas.campaigns.errors import Conflict
from ssmas.campaigns.live.experiments import record_exposures
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.sending import ledger
from ssmas.campaigns.sending.provider import ProviderError, ProviderMessage
from ssmas.campaigns.sending.recipient import Recipient
from ssmas.campaigns.sending.runtime import SendingRuntime, sending_runtime
from ssmas.campaigns.sending.schedule import next_allowed
from ssmas.campaigns.sending.tables import (
    CAPPED,
    FAILED,
    LEDGER,
    OPTED_OUT,
    PENDING,
    SENDING,
    SENT,
    SendRow,
)
from ssmas.core.db import UnitOfWork, UtcDateTime
from ssmas.core.platform import Platform
from ssmas.core.security.pii import index_lookup

log = structlog.get_logger(__name__)

# The assistant consumes this topic (``ssmas.assistant.campaign_templates``).
TOPIC_WHATSAPP_SEND = "assistant.template_send"
IDLE_S = 0.2
RETRY_LATER_S = 5.0
# Looking for a dead sender's message starts this long before its first try (clock skew
# between this host and the provider; Twilio dates messages to the second).
RECONCILE_MARGIN = timedelta(minutes=5)


class LedgerSender:
    """The ``CampaignSender`` port over the send ledger."""

    def __init__(self, runtime: SendingRuntime) -> None:
        self.rt = runtime

    def enqueue(
        self,
        tenant_id: int,
        campaign_id: int,
        channel: str,
        template: str,
        recipients: Sequence[Recipient],
    ) -> dict[str, int]:
        """Queue one message per recipient (again: nothing); raises ``TemplateError`` or
        ``ChannelError`` before queueing anything."""
        with UnitOfWork(self.rt.session_factory) as uow:
            queued = ledger.enqueue(
                uow.session,
                self.rt.cipher,
                tenant_id=tenant_id,
                campaign_id=campaign_id,
                channel=channel,
                template=template,
                recipients=recipients,
                now=self.rt.clock(),
                quiet=self.rt.quiet,
            )
            uow.commit()
        return queued.as_dict()

    def counts(self, tenant_id: int, campaign_id: int) -> dict[str, int]:
        with UnitOfWork(self.rt.session_factory) as uow:
            return ledger.counts(uow.session, tenant_id, campaign_id)


def campaign_sender(platform: Platform) -> LedgerSender:
    """The platform's ``CampaignSender``."""
    return LedgerSender(sending_runtime(platform))


@dataclass(frozen=True)
class Job:
    """One claimed row, decrypted, with what the rules need."""

    row_id: int
    key: str
    tenant_id: int
    campaign_id: int
    lead_id: int
    channel: str
    phone_index: str
    phone: str
    body: str
    tz: str
    tried_at: datetime | None  # set: an earlier claim may have reached the provider


@dataclass(frozen=True)
class Outcome:
    job: Job
    sid: str | None = None
    error: ProviderError | None = None
    reconciled: bool = False


class Sender:
    """Sends due ledger rows; one per worker thread (``run``) or process."""

    def __init__(self, runtime: SendingRuntime, worker: str | None = None) -> None:
        self.rt = runtime
        self.worker = worker or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.sent = 0
        self.reconciled = 0
        self._pool = ThreadPoolExecutor(runtime.settings.sender_concurrency, "sender")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def run(self, stop: threading.Event) -> None:
        """Pass after pass until ``stop`` is set; idle waits are short."""
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception:
                log.exception("sender_pass_failed")
                stop.wait(1.0)
                continue
            if not handled:
                stop.wait(IDLE_S)

    def run_once(self) -> int:
        """One pass; returns how many rows it claimed."""
        cs = self.rt.settings
        now = self.rt.clock()
        with UnitOfWork(self.rt.session_factory) as uow:
            rows = ledger.claim(
                uow.session, self.worker, now=now, lease_s=cs.lease_s, limit=cs.sender_batch
            )
            uow.commit()
            jobs = [self._job(row) for row in rows]
        if not jobs:
            return 0
        ready = self._apply_rules(jobs, now)
        outcomes = list(self._pool.map(self._send, ready)) if ready else []
        self._record(outcomes)
        return len(jobs)

    def _job(self, row: SendRow) -> Job:
        return Job(
            row_id=row.id,
            key=row.idem_key,
            tenant_id=row.tenant_id,
            campaign_id=row.campaign_id,
            lead_id=row.lead_id,
            channel=row.channel,
            phone_index=row.phone_index,
            phone=self.rt.cipher.decrypt(row.phone_enc),
            body=self.rt.cipher.decrypt(row.body_enc),
            tz=row.tz,
            tried_at=row.first_try_at,
        )

    def _apply_rules(self, jobs: list[Job], now: datetime) -> list[Job]:
        """Opt-outs, frequency caps, quiet hours and the tenant's rate, decided and written in
        one transaction; returns the jobs to send (marked tried)."""
        cs = self.rt.settings
        ready: list[Job] = []
        decided: dict[str, list[int]] = {OPTED_OUT: [], CAPPED: []}
        later: list[tuple[int, datetime]] = []
        with UnitOfWork(self.rt.session_factory) as uow:
            for tenant_id in sorted({j.tenant_id for j in jobs}):
                mine = [j for j in jobs if j.tenant_id == tenant_id]
                # each phone under every blind-index version held (a key rotation)
                lookup = index_lookup(self.rt.cipher, {j.phone_index: j.phone for j in mine})
                stopped = ledger.opted_out(uow.session, tenant_id, lookup)
                recent = ledger.recent_sends(uow.session, tenant_id, lookup, now)
                for job in mine:
                    if job.phone_index in stopped:
                        decided[OPTED_OUT].append(job.row_id)
                        continue
                    day, week = recent.get(job.phone_index, (0, 0))
                    if job.tried_at is None and (day >= cs.cap_per_day or week >= cs.cap_per_week):
                        decided[CAPPED].append(job.row_id)
                        continue
                    opens = next_allowed(now, job.tz, self.rt.quiet)
                    if opens > now:
                        later.append((job.row_id, opens))
                        continue
                    decision = self.rt.limiter.hit_now(f"{tenant_id}")
                    if not decision.allowed:
                        later.append((job.row_id, now + timedelta(seconds=decision.retry_after_s)))
                        continue
                    recent[job.phone_index] = (day + 1, week + 1)
                    ready.append(job)
            table = LEDGER
            for state, ids in decided.items():
                if ids:
                    uow.session.execute(
                        table.update()
                        .where(table.c.id.in_(ids), table.c.claimed_by == self.worker)
                        .values(state=state, claimed_by=None, lease_until=None)
                    )
            if later:
                uow.session.execute(
                    table.update()
                    .where(table.c.id == sa.bindparam("b_id"))
                    .values(
                        state=PENDING,
                        not_before=sa.bindparam("b_at", type_=UtcDateTime()),
                        claimed_by=None,
                        lease_until=None,
                    ),
                    [{"b_id": row_id, "b_at": at} for row_id, at in later],
                )
            fresh = [j.row_id for j in ready if j.tried_at is None]
            if fresh:
                uow.session.execute(
                    table.update()
                    .where(table.c.id.in_(fresh))
                    .values(first_try_at=sa.bindparam("b_now", now, type_=UtcDateTime()))
                )
            uow.commit()
        return ready

    def _send(self, job: Job) -> Outcome:
        try:
            if job.channel == "whatsapp":
                self._publish_whatsapp(job)
                return Outcome(job)
            if job.tried_at is not None:
                found = self._already_sent(job)
                if found is not None:
                    return Outcome(job, sid=found.sid, reconciled=True)
            message = self.rt.provider.send(
                job.phone,
                job.body,
                status_callback=self.rt.receipts_url(job.key),
                idempotency_key=job.key,
            )
            return Outcome(job, sid=message.sid)
        except ProviderError as exc:
            return Outcome(job, error=exc)

    def _already_sent(self, job: Job) -> ProviderMessage | None:
        assert job.tried_at is not None
        since = job.tried_at - RECONCILE_MARGIN
        for message in self.rt.provider.find(job.phone, since):
            if message.body == job.body:
                return message
        return None

    def _publish_whatsapp(self, job: Job) -> str:
        cs = self.rt.settings
        request = {
            "event_type": "template_send_requested",
            "to": job.phone.lstrip("+"),
            "template": cs.whatsapp_template,
            "language": cs.whatsapp_language,
            "parameters": [job.body],
            "callback_data": job.key,
        }
        sealed = {
            "event_type": request["event_type"],
            "sealed": self.rt.cipher.encrypt(json.dumps(request)),
        }
        return self.rt.bus.publish(TOPIC_WHATSAPP_SEND, sealed, key=job.key)

    def _record(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        now = self.rt.clock()
        table = LEDGER
        at = sa.bindparam("b_now", now, type_=UtcDateTime())
        sent = [o for o in outcomes if o.error is None]
        failed = [o for o in outcomes if o.error is not None and not o.error.retryable]
        retry = [o for o in outcomes if o.error is not None and o.error.retryable]
        with UnitOfWork(self.rt.session_factory) as uow:
            if sent:
                uow.session.execute(
                    table.update()
                    .where(table.c.id == sa.bindparam("b_id"))
                    .values(
                        state=sa.case((table.c.state == SENDING, SENT), else_=table.c.state),
                        provider_sid=sa.func.coalesce(table.c.provider_sid, sa.bindparam("b_sid")),
                        sent_at=sa.func.coalesce(table.c.sent_at, at),
                        claimed_by=None,
                        lease_until=None,
                    ),
                    [{"b_id": o.job.row_id, "b_sid": o.sid} for o in sent],
                )
                self._expose(uow, [o.job for o in sent], now)
            if failed:
                uow.session.execute(
                    table.update()
                    .where(table.c.id == sa.bindparam("b_id"), table.c.state == SENDING)
                    .values(
                        state=FAILED,
                        error_code=sa.bindparam("b_code"),
                        status_at=at,
                        claimed_by=None,
                        lease_until=None,
                    ),
                    [{"b_id": o.job.row_id, "b_code": _code(o.error)} for o in failed],
                )
            if retry:
                # Refused outright (429, unreachable): the row was not sent, forget the try.
                uow.session.execute(
                    table.update()
                    .where(table.c.id == sa.bindparam("b_id"), table.c.state == SENDING)
                    .values(
                        state=PENDING,
                        not_before=sa.bindparam("b_at", type_=UtcDateTime()),
                        first_try_at=sa.case(
                            (sa.bindparam("b_clear", type_=sa.Boolean()), None),
                            else_=table.c.first_try_at,
                        ),
                        claimed_by=None,
                        lease_until=None,
                    ),
                    [
                        {
                            "b_id": o.job.row_id,
                            "b_at": now + timedelta(seconds=_wait(o.error)),
                            "b_clear": _refused(o.error),
                        }
                        for o in retry
                    ],
                )
            uow.commit()
        self.sent += len(sent)
        self.reconciled += sum(o.reconciled for o in sent)
        for o in outcomes:
            if o.reconciled:
                log.info("send_reconciled", row_id=o.job.row_id, sid=o.sid)
            elif o.error is not None:
                log.warning(
                    "send_failed",
                    row_id=o.job.row_id,
                    status=o.error.status,
                    code=o.error.code,
                    retry=o.error.retryable,
                )

    @staticmethod
    def _expose(uow: UnitOfWork, jobs: list[Job], now: datetime) -> None:
        """Record the sent messages' recipients as exposed to the running experiment that
        splits their campaign (if any), in a savepoint of the pass's transaction: a clash with
        a concurrent assignment of the same units is tried once more (they are known by then)
        rather than losing the pass's sent rows."""
        campaigns: dict[tuple[int, int], list[int]] = {}
        for job in jobs:
            campaigns.setdefault((job.tenant_id, job.campaign_id), []).append(job.lead_id)
        for (tenant_id, campaign_id), leads in sorted(campaigns.items()):
            scope = TenantScope(uow.session, tenant_id)
            for attempt in (1, 2):
                try:
                    with uow.session.begin_nested():
                        record_exposures(scope, campaign_id, leads, now=now)
                    break
                except Conflict:
                    if attempt == 2:
                        raise


def _code(error: ProviderError | None) -> str | None:
    if error is None:
        return None
    return (error.code or (str(error.status) if error.status else "error"))[:32]


def _wait(error: ProviderError | None) -> float:
    if error is None or error.retry_after_s is None:
        return RETRY_LATER_S
    return max(0.0, error.retry_after_s)


def _refused(error: ProviderError | None) -> bool:
    """The provider certainly did not take the message: a 429, or no connection at all."""
    return error is not None and not error.ambiguous and (error.status in (None, 429))


def run_sender(platform: Platform, stop: threading.Event) -> None:
    """The ``sender`` worker of the campaigns product."""
    sender = Sender(sending_runtime(platform))
    try:
        sender.run(stop)
    finally:
        sender.close()
