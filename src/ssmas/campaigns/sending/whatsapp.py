"""The WhatsApp side of sending: opt-outs and delivery statuses read off the assistant's topics.

Customers write to the business's WhatsApp number, which the assistant owns. Every message it
receives goes on its ``assistant.text`` topic and every status of a message it sent on
``assistant.status`` (both sealed with the platform's PII cipher). The ``optouts`` worker reads
both in consumer groups of its own (``campaigns-optouts``, ``campaigns-receipts``), so the
assistant's consumers are not touched: it records an opt-out for each opt-out keyword, and a
receipt for each status that echoes a ledger key (a campaign's template send; other statuses
match no row). Sends go the other way: the sender publishes template requests on
``assistant.template_send`` for the assistant to deliver (``ssmas.campaigns.sending.sender``).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import structlog

from ssmas.campaigns.sending.consent import record_opt_out
from ssmas.campaigns.sending.ledger import record_receipt
from ssmas.campaigns.sending.optout import opt_out_keyword
from ssmas.campaigns.sending.runtime import SendingRuntime, sending_runtime
from ssmas.core.bus import Delivery
from ssmas.core.db import UnitOfWork
from ssmas.core.platform import Platform
from ssmas.core.worker import Subscription, run_worker

log = structlog.get_logger(__name__)

TOPIC_ASSISTANT_TEXT = "assistant.text"
TOPIC_ASSISTANT_STATUS = "assistant.status"
GROUP = "campaigns-optouts"
RECEIPTS_GROUP = "campaigns-receipts"


def _payload(runtime: SendingRuntime, payload: dict[str, Any]) -> dict[str, Any]:
    token = payload.get("sealed")
    if not isinstance(token, str):
        return payload
    data = json.loads(runtime.cipher.decrypt(token))
    if not isinstance(data, dict):
        raise ValueError("sealed payload is not a JSON object")
    return data


class WhatsAppReader:
    """Records opt-outs among the assistant's inbound messages, and our templates' statuses."""

    def __init__(self, runtime: SendingRuntime) -> None:
        self.rt = runtime
        self.recorded = 0
        self.receipts = 0

    def handle(self, delivery: Delivery) -> None:
        data = _payload(self.rt, dict(delivery.message.payload))
        text, phone = data.get("text"), data.get("phone")
        if not isinstance(text, str) or not isinstance(phone, str) or not phone:
            return
        keyword = opt_out_keyword(text[:1600])
        if keyword is None:
            return
        with UnitOfWork(self.rt.session_factory) as uow:
            tenants = record_opt_out(
                uow.session,
                self.rt.cipher,
                phone=phone,
                keyword=keyword,
                channel="whatsapp",
                now=self.rt.clock(),
            )
            uow.commit()
        self.recorded += 1
        log.info("opt_out_recorded", channel="whatsapp", keyword=keyword, tenants=len(tenants))

    def handle_status(self, delivery: Delivery) -> None:
        data = _payload(self.rt, dict(delivery.message.payload))
        key, sid, status = data.get("callback_data"), data.get("message_id"), data.get("status")
        if not isinstance(key, str) or not key.startswith("t") or not isinstance(sid, str):
            return
        with UnitOfWork(self.rt.session_factory) as uow:
            found = record_receipt(
                uow.session,
                key=key,
                sid=sid[:64],
                status=str(status),
                error_code=str(data["error_code"]) if data.get("error_code") else None,
                now=self.rt.clock(),
            )
            uow.commit()
        self.receipts += found

    def subscriptions(self) -> list[Subscription]:
        return [
            Subscription(TOPIC_ASSISTANT_TEXT, GROUP, self.handle, 100, 30.0),
            Subscription(TOPIC_ASSISTANT_STATUS, RECEIPTS_GROUP, self.handle_status, 100, 30.0),
        ]


def run_optouts(platform: Platform, stop: threading.Event) -> None:
    """The ``optouts`` worker of the campaigns product (opt-outs and WhatsApp statuses)."""
    reader = WhatsAppReader(sending_runtime(platform))
    run_worker(platform.bus, reader.subscriptions(), stop)
