"""The WhatsApp webhook: ``GET`` answers Meta's verification, ``POST`` takes deliveries.

A delivery is acknowledged only after it is durably on the bus (``assistant.inbound``, keyed by
the body's SHA-256 so Meta's retries store nothing twice), and before any parsing beyond a
sanity check: the router worker splits it into the text, media and status queues. A delivery
that is signed but unusable (not UTF-8, not JSON, not a WhatsApp envelope) is kept on
``assistant.inbound.dlq`` and answered 400; an unsigned or wrongly signed one is refused 403.
"""

from __future__ import annotations

import hashlib
import hmac

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ssmas.assistant.events import TOPIC_INBOUND, seal_bytes
from ssmas.assistant.whatsapp.models import PayloadError, parse_webhook
from ssmas.core.api import ApiError, PlatformDep
from ssmas.core.bus import dlq_topic
from ssmas.core.bus.base import HEADER_ERROR, HEADER_TOPIC
from ssmas.core.security import verify_sha256

log = structlog.get_logger(__name__)

router = APIRouter(tags=["whatsapp"])

SIGNATURE_HEADER = "x-hub-signature-256"


@router.get("/whatsapp/webhook", response_class=PlainTextResponse)
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


@router.post("/whatsapp/webhook")
async def receive_delivery(request: Request, platform: PlatformDep) -> JSONResponse:
    """Verify the signature over the raw bytes, store the delivery, acknowledge."""
    from ssmas.assistant.runtime import channel_cipher, channel_settings

    settings = channel_settings(platform)
    body = await request.body()
    if len(body) > settings.max_body_bytes:
        raise ApiError(
            413, "payload_too_large", f"webhook body over {settings.max_body_bytes} bytes"
        )
    signature = request.headers.get(SIGNATURE_HEADER)
    if not verify_sha256(settings.app_secret_bytes, body, signature):
        log.warning("webhook_signature_rejected", present=bool(signature))
        raise ApiError(403, "invalid_signature", "X-Hub-Signature-256 is missing or wrong")
    digest = hashlib.sha256(body).hexdigest()
    payload = seal_bytes(channel_cipher(platform), body)
    try:
        parse_webhook(body)
    except PayloadError as exc:
        headers = {HEADER_ERROR: exc.code, HEADER_TOPIC: TOPIC_INBOUND}
        await run_in_threadpool(
            platform.bus.publish, dlq_topic(TOPIC_INBOUND), payload, key=digest, headers=headers
        )
        log.warning("webhook_delivery_dead_lettered", reason=exc.code, sha256=digest[:16])
        raise ApiError(400, exc.code, exc.message)
    message_id = await run_in_threadpool(platform.bus.publish, TOPIC_INBOUND, payload, key=digest)
    return JSONResponse({"status": "accepted", "delivery": message_id})
