"""Recording opt-outs: per tenant and phone, forever.

An opt-out arrives from a phone (by SMS to our number, or by WhatsApp) without saying which
tenant it means, because the tenants share the sending numbers. It is recorded for every
tenant that has messaged that phone; when none has, for tenant 0, which every tenant honours.
Queued messages to the phone are marked opted out at once, and ``enqueue`` and the sender
check the table before every send, so a re-import of the number or a new campaign never
reaches it again. Rows are never deleted.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ssmas.campaigns.sending.optout import normalise_phone
from ssmas.campaigns.sending.tables import OPT_OUTS, OPTED_OUT, PENDING, OptOut, SendRow
from ssmas.core.security import PiiCipher

EVERY_TENANT = 0


def record_opt_out(
    session: Session,
    cipher: PiiCipher,
    *,
    phone: str,
    keyword: str,
    channel: str,
    now: datetime,
    tenant_id: int | None = None,
) -> list[int]:
    """Record that ``phone`` opted out (of ``tenant_id``, or of every tenant that messaged it);
    returns the tenants recorded."""
    # written under the active blind-index version, matched under every one held
    indexes = cipher.blind_indexes(normalise_phone(phone))
    index = indexes[0]
    if tenant_id is not None:
        tenants = [tenant_id]
    else:
        tenants = sorted(
            session.scalars(
                sa.select(SendRow.tenant_id).where(SendRow.phone_index.in_(indexes)).distinct()
            )
        ) or [EVERY_TENANT]
    rows = [
        {
            "tenant_id": t,
            "phone_index": index,
            "keyword": keyword[:32],
            "channel": channel[:16],
            "created_at": now,
        }
        for t in tenants
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(OPT_OUTS).on_conflict_do_nothing(  # type: ignore[attr-defined]
        index_elements=["tenant_id", "phone_index"]
    )
    session.execute(insert, rows)
    # Rows a sender holds right now (``sending``) are checked again by it before sending.
    queued = sa.update(SendRow).where(SendRow.phone_index.in_(indexes), SendRow.state == PENDING)
    if EVERY_TENANT not in tenants:
        queued = queued.where(SendRow.tenant_id.in_(tenants))
    session.execute(queued.values(state=OPTED_OUT).execution_options(synchronize_session=False))
    return tenants


def is_opted_out(session: Session, cipher: PiiCipher, tenant_id: int, phone: str) -> bool:
    """Whether ``phone`` opted out of ``tenant_id`` (or of every tenant)."""
    indexes = cipher.blind_indexes(normalise_phone(phone))  # every version: a key rotation
    found = session.scalar(
        sa.select(OptOut.id).where(
            OptOut.phone_index.in_(indexes), OptOut.tenant_id.in_((tenant_id, EVERY_TENANT))
        )
    )
    return found is not None
