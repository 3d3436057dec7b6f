"""The WhatsApp webhook: ``GET`` answers Meta's verification, ``POST`` takes deliveries.

A delivery is acknowledged only after it is durably on the bus (``assistant.inbound``, keyed by
the body's SHA-256 so Meta's retries store nothing twice): the router worker splits it into the
text, media and status queues. A delivery that is signed but unusable (not UTF-8, not JSON, not
a WhatsApp envelope) is kept on ``assistant.inbound.dlq`` and answered 400; an unsigned or
wrongly signed one is refused 403. A well-formed envelope with some bad elements is accepted:
its good messages are answered and the router dead-letters each bad element with its reason
(the response counts them in ``rejected``).

Acknowledging fast means one bus transaction for many requests (group commit): each request
queues its sealed delivery with ``InboundCommitter`` and waits; one flusher at a time writes
everything queued with a single ``publish_batch`` and then answers all of those requests.
While a transaction is being written, the next requests gather, so the batch grows with the
load and an idle server still writes one delivery at once. A failed transaction fails every
request in it (5xx, Meta delivers again); none is answered 200 before its commit returns.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import weakref
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ssmas.assistant import metrics
from ssmas.assistant.events import TOPIC_INBOUND, seal_bytes
from ssmas.assistant.inbound_limits import NumberLimit
from ssmas.assistant.whatsapp.models import PayloadError, parse_delivery
from ssmas.core.api import ApiError, PlatformDep
from ssmas.core.api.errors import error_responses
from ssmas.core.api.lean import public_lean_route
from ssmas.core.bus import Bus, dlq_topic
from ssmas.core.bus.base import HEADER_ERROR, HEADER_TOPIC
from ssmas.core.platform import Platform
from ssmas.core.security import verify_sha256

log = structlog.get_logger(__name__)

router = APIRouter(tags=["whatsapp"])

SIGNATURE_HEADER = "x-hub-signature-256"
MAX_GROUP = 200
LOOP_ATTEMPTS = 20


class InboundCommitter:
    """Group commit of webhook deliveries onto one bus topic, for one event loop.

    ``publish`` returns the bus message id once the transaction holding the delivery has
    committed. At most one transaction is in flight; requests arriving meanwhile form the next.
    """

    def __init__(self, bus: Bus, topic: str = TOPIC_INBOUND, *, max_group: int = MAX_GROUP) -> None:
        self.bus = bus
        self.topic = topic
        self.max_group = max_group
        self._queued: list[tuple[str, Mapping[str, Any], asyncio.Future[str]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.transactions = 0
        self.published = 0

    async def publish(self, key: str, payload: Mapping[str, Any]) -> str:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str] = loop.create_future()
        self._queued.append((key, payload, done))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        try:
            while self._queued:
                await asyncio.sleep(0)  # let requests already under way join this group
                group = self._queued[: self.max_group]
                del self._queued[: self.max_group]
                items = [(key, payload) for key, payload, _ in group]
                try:
                    ids = await self._commit(items)
                except Exception as exc:  # every request of the group answers 5xx
                    log.error("webhook_group_commit_failed", size=len(group), error=str(exc))
                    for _, _, done in group:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                self.transactions += 1
                self.published += len(group)
                for (_, _, done), message_id in zip(group, ids, strict=True):
                    if not done.done():
                        done.set_result(message_id)
        finally:
            self._flusher = None

    async def _commit(self, items: list[tuple[str, Mapping[str, Any]]]) -> list[str]:
        """One transaction. A SQLite bus commits on the event loop's own thread when its write
        lock is free (a small batch takes well under a millisecond, and a worker thread would
        wait for the GIL behind the busy loop); while another process holds the lock, retry
        every millisecond without blocking the loop, then wait for it on a worker thread."""
        attempt = getattr(self.bus, "try_publish_batch", None)
        if attempt is not None:
            for _ in range(LOOP_ATTEMPTS):
                ids: list[str] | None = attempt(self.topic, items)
                if ids is not None:
                    return ids
                await asyncio.sleep(0.001)
        return await run_in_threadpool(self.bus.publish_batch, self.topic, items)


NUMBER_LIMIT = "assistant.number_limit"  # attached to the platform
COMMITTERS = "assistant.committers"  # attached to the platform (``Platform.attach``)


class Committers(weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, InboundCommitter]):
    """One platform's group committers, one per event loop that serves its webhook."""


def committer_for(platform: Platform) -> InboundCommitter:
    """The group committer of ``platform``'s bus on the running event loop."""
    loop = asyncio.get_running_loop()
    table = platform.runtime(COMMITTERS, Committers)
    if table is None:
        table = platform.runtime_or_build(COMMITTERS, Committers, lambda _p: Committers())
    found = table.get(loop)
    if found is None:
        found = table[loop] = InboundCommitter(platform.bus)
    return found


@router.get(
    "/whatsapp/webhook",
    response_class=PlainTextResponse,
    responses=error_responses(403, descriptions={403: "wrong hub.mode or hub.verify_token"}),
)
async def verify_subscription(request: Request, platform: PlatformDep) -> Response:
    """Meta's subscription handshake: echo ``hub.challenge`` when the verify token matches."""
    from ssmas.assistant.runtime import channel_settings

    params = request.query_params
    expected = channel_settings(platform).verify_token.encode()
    given = params.get("hub.verify_token", "").encode()
    challenge = params.get("hub.challenge", "")
    if params.get("hub.mode") == "subscribe" and challenge and hmac.compare_digest(given, expected):
        return PlainTextResponse(challenge)
    raise ApiError(403, "verification_failed", "hub.mode or hub.verify_token is wrong")


@public_lean_route(  # the hottest route: no FastAPI routing; the signature is its auth
    router,
    "POST",
    "/whatsapp/webhook",
    responses=error_responses(
        400, 403, 413, descriptions={400: "not a webhook payload", 403: "bad signature"}
    ),
)
async def receive_delivery(request: Request) -> JSONResponse:
    """Verify the signature over the raw bytes, store the delivery, acknowledge."""
    from ssmas.assistant.runtime import channel_cipher, channel_settings

    platform: Platform = request.app.state.platform
    settings = channel_settings(platform)
    body = await request.body()
    if len(body) > settings.max_body_bytes:
        metrics.DELIVERIES.labels("too_large").inc()
        raise ApiError(
            413, "payload_too_large", f"webhook body over {settings.max_body_bytes} bytes"
        )
    signature = request.headers.get(SIGNATURE_HEADER)
    if not verify_sha256(settings.app_secret_bytes, body, signature):
        log.warning("webhook_signature_rejected", present=bool(signature))
        metrics.DELIVERIES.labels("bad_signature").inc()
        raise ApiError(403, "invalid_signature", "X-Hub-Signature-256 is missing or wrong")
    digest = hashlib.sha256(body).hexdigest()
    payload = seal_bytes(channel_cipher(platform), body)
    try:
        envelope, rejected = parse_delivery(body)
    except PayloadError as exc:
        headers = {HEADER_ERROR: exc.code, HEADER_TOPIC: TOPIC_INBOUND}
        await run_in_threadpool(
            platform.bus.publish, dlq_topic(TOPIC_INBOUND), payload, key=digest, headers=headers
        )
        log.warning("webhook_delivery_dead_lettered", reason=exc.code, sha256=digest[:16])
        metrics.DELIVERIES.labels("invalid").inc()
        raise ApiError(400, exc.code, exc.message) from None
    numbers = {
        change.value.metadata.phone_number_id
        for entry in envelope.entry
        for change in entry.changes
        if change.value.metadata is not None
    }
    limits = platform.runtime_or_build(
        NUMBER_LIMIT, NumberLimit, lambda p: NumberLimit(channel_settings(p))
    )
    wait = await limits.retry_after(numbers)
    if wait > 0:
        metrics.RATE_LIMITED.labels("number").inc()
        metrics.DELIVERIES.labels("rate_limited").inc()
        seconds = str(max(1, math.ceil(wait)))
        raise ApiError(
            429,
            "rate_limited",
            "too many deliveries for this business number; deliver again later",
            headers={"Retry-After": seconds},
        )
    message_id = await committer_for(platform).publish(digest, payload)
    metrics.DELIVERIES.labels("partial" if rejected else "accepted").inc()
    if rejected:
        log.warning("webhook_elements_rejected", count=len(rejected), sha256=digest[:16])
        metrics.ELEMENTS_REJECTED.inc(len(rejected))
    return JSONResponse({"status": "accepted", "delivery": message_id, "rejected": len(rejected)})
