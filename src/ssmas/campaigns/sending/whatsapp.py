"""The WhatsApp side of sending: opt-outs read off the assistant's messages.

Customers write to the business's WhatsApp number, which the assistant owns. Every message it
receives goes on its ``assistant.text`` topic (sealed with the platform's PII cipher); the
``optouts`` worker reads that topic in a consumer group of its own (``campaigns-optouts``), so
the assistant's pipeline is not touched, and records an opt-out for each opt-out keyword.
Sends go the other way: the sender publishes template requests on ``assistant.template_send``
for the assistant to deliver (``ssmas.campaigns.sending.sender``).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import structlog

from ssmas.campaigns.sending.consent import record_opt_out
from ssmas.campaigns.sending.optout import opt_out_keyword
from ssmas.campaigns.sending.runtime import SendingRuntime, sending_runtime
from ssmas.core.bus import Delivery
from ssmas.core.db import UnitOfWork
from ssmas.core.platform import Platform
from ssmas.core.worker import Subscription, run_worker

log = structlog.get_logger(__name__)

TOPIC_ASSISTANT_TEXT = "assistant.text"
GROUP = "campaigns-optouts"


def _payload(runtime: SendingRuntime, payload: dict[str, Any]) -> dict[str, Any]:
    token = payload.get("sealed")
    if not isinstance(token, str):
        return payload
    data = json.loads(runtime.cipher.decrypt(token))
    if not isinstance(data, dict):
        raise ValueError("sealed payload is not a JSON object")
    return data


class OptOutReader:
    """Records the opt-outs among the assistant's inbound WhatsApp messages."""

    def __init__(self, runtime: SendingRuntime) -> None:
        self.rt = runtime
        self.recorded = 0

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

    def subscription(self) -> Subscription:
        return Subscription(TOPIC_ASSISTANT_TEXT, GROUP, self.handle, 100, 30.0)


def run_optouts(platform: Platform, stop: threading.Event) -> None:
    """The ``optouts`` worker of the campaigns product."""
    reader = OptOutReader(sending_runtime(platform))
    run_worker(platform.bus, [reader.subscription()], stop)
