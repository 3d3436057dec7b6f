"""Template sends other products ask for on ``assistant.template_send`` (campaigns' WhatsApp).

The assistant owns the WhatsApp number and its Graph client, so a campaign does not call
WhatsApp itself: it publishes a sealed ``TemplateSendRequest`` and this handler sends it,
echoing the request's ``callback_data`` on the message's status webhooks. The bus delivers at
least once; a request whose ``callback_data`` a status webhook already echoed (Meta accepted
it) or that this platform's cache remembers sending is acknowledged without sending again.
A retryable Graph failure raises, so the bus delivers the request again later; a final one
(an unknown template, a bad number) is logged and dropped.
"""

from __future__ import annotations

import structlog

from ssmas.assistant.events import TemplateSendRequest, unseal
from ssmas.assistant.runtime import AssistantRuntime
from ssmas.assistant.store import accepted_send
from ssmas.assistant.whatsapp.client import GraphError
from ssmas.core.bus import Delivery
from ssmas.core.db import UnitOfWork

log = structlog.get_logger(__name__)

SENT_MARK_TTL_S = 7 * 24 * 3600.0


class TemplateSends:
    """Handles ``assistant.template_send`` for one runtime."""

    def __init__(self, runtime: AssistantRuntime) -> None:
        self.rt = runtime
        self.sent = 0

    def handle(self, delivery: Delivery) -> None:
        request = TemplateSendRequest.model_validate(
            unseal(self.rt.cipher, dict(delivery.message.payload))
        )
        mark = f"assistant:template_sent:{request.callback_data}"
        if self.rt.platform.cache.get(mark) is not None:
            return
        with UnitOfWork(self.rt.platform.session_factory) as uow:
            if accepted_send(uow.session, request.callback_data) is not None:
                return
        try:
            result = self.rt.client.send_template(
                request.to,
                request.template,
                request.language,
                parameters=request.parameters,
                callback_data=request.callback_data,
            )
        except GraphError as exc:
            if exc.retryable:
                raise
            log.warning("template_send_failed", code=exc.code, status=exc.status)
            return
        self.rt.platform.cache.set(mark, result.wa_id.encode(), ttl_s=SENT_MARK_TTL_S)
        self.sent += 1
