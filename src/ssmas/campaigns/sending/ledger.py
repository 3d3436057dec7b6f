"""The send ledger: queue a campaign's recipients once, claim due rows, record outcomes.

Every function takes an open ``Session`` and leaves committing to the caller (a unit of work).
A row's ``idem_key`` (tenant, campaign, lead) is unique, so queueing the same recipients again
adds nothing. ``claim`` hands due rows to one sender under a lease: a row whose lease lapsed
(its sender died) is claimed again, and ``first_try_at`` says whether an earlier claim may
already have reached the provider (the sender then reconciles before sending).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ssmas.campaigns.sending.optout import normalise_phone
from ssmas.campaigns.sending.recipient import CHANNELS, COUNT_KEYS, Recipient
from ssmas.campaigns.sending.schedule import QuietHours, best_hour, send_time
from ssmas.campaigns.sending.tables import (
    CAPPED,
    DELIVERED,
    FAILED,
    LEDGER,
    OPTED_OUT,
    PENDING,
    SENDING,
    SENT,
    UNDELIVERED,
    OptOut,
    SendRow,
)
from ssmas.core.security import PiiCipher
from ssmas.core.security.pii import index_lookup

CHUNK = 500
_VARIABLE = re.compile(r"\{(\w+)\}")
# How far each provider status moves a row (receipts never move it back).
_RANK = {PENDING: 0, SENDING: 0, SENT: 1, DELIVERED: 2, UNDELIVERED: 2, FAILED: 2}
PROVIDER_STATES = {
    "accepted": SENT,
    "queued": SENT,
    "sending": SENT,
    "sent": SENT,
    "delivered": DELIVERED,
    "read": DELIVERED,  # WhatsApp
    "undelivered": UNDELIVERED,
    "failed": FAILED,
}


class TemplateError(ValueError):
    """A template names a variable a recipient does not have."""


class ChannelError(ValueError):
    """A channel other than ``sms`` or ``whatsapp``."""


def idem_key(tenant_id: int, campaign_id: int, lead_id: int) -> str:
    """The idempotency key of one campaign's message to one lead."""
    return f"t{tenant_id}-c{campaign_id}-l{lead_id}"


def render(template: str, variables: dict[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by ``variables[name]``."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise TemplateError(f"the template uses {{{name}}}, which the recipient lacks")
        return str(variables[name])

    return _VARIABLE.sub(value, template)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


# The phone look-ups below take ``lookup``: ``{index: key}`` as ``index_lookup`` makes it, every
# index of each phone under the blind-index versions held (a key rotation leaves stored rows
# under either), and answer by key.


def opted_out(session: Session, tenant_id: int, lookup: Mapping[str, str]) -> set[str]:
    """The keys of ``lookup`` whose phone opted out of ``tenant_id`` (or of everyone)."""
    found: set[str] = set()
    for chunk in _chunks(list(lookup)):
        rows = session.execute(
            sa.select(OptOut.phone_index).where(
                OptOut.tenant_id.in_((tenant_id, 0)), OptOut.phone_index.in_(chunk)
            )
        )
        found.update(lookup[index] for index in rows.scalars())
    return found


def conversions(
    session: Session, tenant_id: int, lookup: Mapping[str, str]
) -> dict[str, list[datetime]]:
    """Past conversion times per key of ``lookup`` (the input of the best hour)."""
    found: dict[str, list[datetime]] = {}
    for chunk in _chunks(list(lookup)):
        rows = session.execute(
            sa.select(SendRow.phone_index, SendRow.converted_at).where(
                SendRow.tenant_id == tenant_id,
                SendRow.phone_index.in_(chunk),
                SendRow.converted_at.is_not(None),
            )
        )
        for index, at in rows:
            if at is not None:
                found.setdefault(lookup[index], []).append(at)
    return found


def _insert(session: Session) -> sa.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(LEDGER).on_conflict_do_nothing(index_elements=["idem_key"])
    return sqlite.insert(LEDGER).on_conflict_do_nothing(index_elements=["idem_key"])


@dataclass(frozen=True)
class Queued:
    """What ``enqueue`` did: rows queued, rows recorded opted out, recipients already queued."""

    queued: int
    opted_out: int
    duplicate: int

    def as_dict(self) -> dict[str, int]:
        return {"queued": self.queued, "opted_out": self.opted_out, "duplicate": self.duplicate}


def enqueue(
    session: Session,
    cipher: PiiCipher,
    *,
    tenant_id: int,
    campaign_id: int,
    channel: str,
    template: str,
    recipients: Sequence[Recipient],
    now: datetime,
    quiet: QuietHours,
) -> Queued:
    """Queue one message per recipient, each at its send time; nothing is queued when the
    template misses a variable of any recipient (``TemplateError``)."""
    if channel not in CHANNELS:
        raise ChannelError(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
    bodies = [render(template, r.variables) for r in recipients]
    phones = [normalise_phone(r.e164) for r in recipients]
    indexes = [cipher.blind_index(p) for p in phones]
    lookup = index_lookup(cipher, dict(zip(indexes, phones, strict=True)))
    keys = [idem_key(tenant_id, campaign_id, r.lead_id) for r in recipients]
    existing: set[str] = set()
    for chunk in _chunks(keys):
        existing.update(
            session.scalars(sa.select(SendRow.idem_key).where(SendRow.idem_key.in_(chunk)))
        )
    stopped = opted_out(session, tenant_id, lookup)
    history = conversions(session, tenant_id, lookup)
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    n_opted = 0
    for r, body, phone, index, key in zip(recipients, bodies, phones, indexes, keys, strict=True):
        if key in existing or key in seen:
            continue
        seen.add(key)
        state = OPTED_OUT if index in stopped else PENDING
        n_opted += state == OPTED_OUT
        hour = best_hour(history.get(index, ()), r.time_zone)
        rows.append(
            {
                "idem_key": key,
                "tenant_id": tenant_id,
                "campaign_id": campaign_id,
                "lead_id": r.lead_id,
                "channel": channel,
                "phone_index": index,
                "phone_enc": cipher.encrypt(phone),
                "body_enc": cipher.encrypt(body),
                "tz": r.time_zone[:64],
                "state": state,
                "not_before": send_time(now, r.time_zone, hour, quiet),
                "attempts": 0,
                "created_at": now,
            }
        )
    if rows:
        session.execute(_insert(session), rows)
    return Queued(
        queued=len(rows) - n_opted, opted_out=n_opted, duplicate=len(recipients) - len(rows)
    )


def counts(session: Session, tenant_id: int, campaign_id: int) -> dict[str, int]:
    """The campaign's counts: queued, sent (accepted by the provider), delivered, failed
    (failed or undelivered), opted_out, converted and capped."""
    where = (SendRow.tenant_id == tenant_id, SendRow.campaign_id == campaign_id)
    out = dict.fromkeys(COUNT_KEYS, 0)
    for state, n in session.execute(
        sa.select(SendRow.state, sa.func.count()).where(*where).group_by(SendRow.state)
    ):
        if state in (PENDING, SENDING):
            out["queued"] += n
        elif state in (FAILED, UNDELIVERED):
            out["failed"] += n
        elif state in (DELIVERED, OPTED_OUT, CAPPED):
            out[state] += n
    out["sent"] = (
        session.scalar(sa.select(sa.func.count()).where(*where, SendRow.sent_at.is_not(None))) or 0
    )
    out["converted"] = (
        session.scalar(sa.select(sa.func.count()).where(*where, SendRow.converted_at.is_not(None)))
        or 0
    )
    return out


def claim(
    session: Session, worker: str, *, now: datetime, lease_s: float, limit: int
) -> list[SendRow]:
    """Claim up to ``limit`` due rows for ``worker`` (pending and due, or sending with a lapsed
    lease); each claimed row's ``attempts`` grows by one. Safe between concurrent senders:
    PostgreSQL skips rows another transaction holds, SQLite runs one writer at a time."""
    due = sa.or_(
        sa.and_(SendRow.state == PENDING, SendRow.not_before <= now),
        sa.and_(SendRow.state == SENDING, SendRow.lease_until < now),
    )
    pick = sa.select(SendRow.id).where(due).order_by(SendRow.not_before, SendRow.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    ids = list(session.scalars(pick))
    if not ids:
        return []
    session.execute(
        sa.update(SendRow)
        .where(SendRow.id.in_(ids), due)
        .values(
            state=SENDING,
            claimed_by=worker,
            lease_until=now + timedelta(seconds=lease_s),
            attempts=SendRow.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return list(
        session.scalars(
            sa.select(SendRow)
            .where(SendRow.id.in_(ids), SendRow.claimed_by == worker, SendRow.state == SENDING)
            .execution_options(populate_existing=True)
        )
    )


def recent_sends(
    session: Session, tenant_id: int, lookup: Mapping[str, str], now: datetime
) -> dict[str, tuple[int, int]]:
    """Per key of ``lookup``: messages sent in the last day and in the last week (frequency
    caps)."""
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    found: dict[str, tuple[int, int]] = {}
    in_day = sa.func.sum(sa.case((SendRow.sent_at >= day, 1), else_=0))
    for chunk in _chunks(list(lookup)):
        rows = session.execute(
            sa.select(SendRow.phone_index, in_day, sa.func.count())
            .where(
                SendRow.tenant_id == tenant_id,
                SendRow.phone_index.in_(chunk),
                SendRow.sent_at >= week,
            )
            .group_by(SendRow.phone_index)
        )
        for index, n_day, n_week in rows:
            before_day, before_week = found.get(lookup[index], (0, 0))
            found[lookup[index]] = (before_day + int(n_day or 0), before_week + int(n_week))
    return found


def record_receipt(
    session: Session,
    *,
    key: str | None,
    sid: str,
    status: str,
    error_code: str | None,
    now: datetime,
) -> bool:
    """Apply a provider status to the row of ``key`` (from the callback URL) or of ``sid``;
    statuses only move a row forward. Returns whether a row matched."""
    target = PROVIDER_STATES.get(status)
    row = None
    if key:
        row = session.scalar(sa.select(SendRow).where(SendRow.idem_key == key))
    if row is None:
        row = session.scalar(sa.select(SendRow).where(SendRow.provider_sid == sid))
    if row is None:
        return False
    if row.provider_sid is None:
        row.provider_sid = sid
    if row.sent_at is None and target is not None:
        row.sent_at = now
    if target is not None and _RANK.get(target, 0) > _RANK.get(row.state, 3):
        row.state = target
        row.status_at = now
        if target in (FAILED, UNDELIVERED):
            row.error_code = (error_code or "")[:32] or None
    elif target is not None and target == row.state and _RANK.get(target, 0) == 2:
        row.status_at = row.status_at or now
    return True


def record_conversion(
    session: Session, *, tenant_id: int, campaign_id: int, lead_id: int, now: datetime
) -> bool:
    """Record that the lead converted after this campaign's message (once; the first time
    stands). False when the campaign never messaged the lead."""
    row = session.scalar(
        sa.select(SendRow).where(SendRow.idem_key == idem_key(tenant_id, campaign_id, lead_id))
    )
    if row is None or row.sent_at is None:
        return False
    if row.converted_at is None:
        row.converted_at = now
    return True
