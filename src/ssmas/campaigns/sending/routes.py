"""The HTTP surface of sending: the SMS provider's callbacks, and conversions.

``POST /v1/campaigns/sms/receipts`` takes delivery receipts (Twilio's status callback:
form-encoded ``MessageSid``, ``MessageStatus``, ``ErrorCode``; the ``k`` query parameter names
the ledger row) and ``POST /v1/campaigns/sms/inbound`` takes messages texted to our number
(Twilio's incoming-message webhook: ``From``, ``Body``), recording opt-out keywords. Both are
called by the provider, not by a key holder: each must carry ``X-Twilio-Signature`` over the
URL the provider called (``SSMAS_CAMPAIGNS_PUBLIC_URL`` + path + query) and the form, keyed by
the auth token, else 403. ``POST /v1/campaigns/conversions`` (a tenant key with
``campaigns:write``) records that one of the caller's tenant's leads converted after one of its
campaign's messages.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ssmas.campaigns.api.deps import TenantWriter
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.sending import ledger
from ssmas.campaigns.sending.consent import record_opt_out
from ssmas.campaigns.sending.optout import opt_out_keyword
from ssmas.campaigns.sending.runtime import (
    INBOUND_PATH,
    RECEIPTS_PATH,
    SendingRuntime,
    sending_runtime,
)
from ssmas.campaigns.tables import Campaign, Lead
from ssmas.core.api import ApiError, PlatformDep
from ssmas.core.api.bodies import json_body, json_body_doc
from ssmas.core.api.errors import error_responses
from ssmas.core.db import UnitOfWork
from ssmas.core.security import verify_twilio

log = structlog.get_logger(__name__)

router = APIRouter(tags=["campaigns sending"])

SIGNATURE_HEADER = "x-twilio-signature"
MAX_DB_ID = 2**31 - 1
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
CALLBACK_ERRORS = error_responses(
    400, 403, descriptions={400: "not a form of the provider", 403: "bad X-Twilio-Signature"}
)


def _form_doc(*required: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {name: {"type": "string"} for name in required},
        "required": list(required),
    }
    content = {"application/x-www-form-urlencoded": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


async def _signed_form(request: Request, runtime: SendingRuntime) -> dict[str, str]:
    """The provider's form, once its signature over our public URL checks out."""
    raw = await request.body()
    try:
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_form", "the body is not UTF-8 form data") from None
    url = runtime.settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get(SIGNATURE_HEADER)
    if not verify_twilio(runtime.settings.auth_token, url, form, signature):
        log.warning("sms_callback_signature_rejected", present=bool(signature))
        raise ApiError(403, "invalid_signature", "X-Twilio-Signature is missing or wrong")
    return form


@router.post(RECEIPTS_PATH, responses=CALLBACK_ERRORS, openapi_extra=_form_doc("MessageSid"))
async def receive_receipt(
    request: Request,
    platform: PlatformDep,
    k: Annotated[str | None, Query(max_length=64, description="the ledger row's key")] = None,
) -> dict[str, str]:
    """Record a delivery receipt (``queued``, ``sent``, ``delivered``, ``undelivered``,
    ``failed``); a receipt for a message we do not know is acknowledged and ignored."""
    runtime = sending_runtime(platform)
    form = await _signed_form(request, runtime)
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or not status or len(sid) > 64:
        raise ApiError(400, "invalid_receipt", "MessageSid and MessageStatus are required")

    def record() -> bool:
        with UnitOfWork(runtime.session_factory) as uow:
            found = ledger.record_receipt(
                uow.session,
                key=k,
                sid=sid,
                status=status,
                error_code=form.get("ErrorCode"),
                now=runtime.clock(),
            )
            uow.commit()
            return found

    found = await run_in_threadpool(record)
    return {"status": "recorded" if found else "unknown"}


@router.post(
    INBOUND_PATH,
    responses=CALLBACK_ERRORS,
    response_class=Response,
    openapi_extra=_form_doc("From", "Body"),
)
async def receive_inbound(request: Request, platform: PlatformDep) -> Response:
    """A message texted to our number: an opt-out keyword records the opt-out; the answer is
    empty TwiML (nothing is sent back)."""
    runtime = sending_runtime(platform)
    form = await _signed_form(request, runtime)
    phone = form.get("From", "")
    if not phone or len(phone) > 32:
        raise ApiError(400, "invalid_inbound", "From is required")
    keyword = opt_out_keyword(form.get("Body", "")[:1600])
    if keyword is not None:

        def record() -> list[int]:
            with UnitOfWork(runtime.session_factory) as uow:
                tenants = record_opt_out(
                    uow.session,
                    runtime.cipher,
                    phone=phone,
                    keyword=keyword,
                    channel="sms",
                    now=runtime.clock(),
                )
                uow.commit()
                return tenants

        tenants = await run_in_threadpool(record)
        log.info("opt_out_recorded", channel="sms", keyword=keyword, tenants=len(tenants))
    return Response(EMPTY_TWIML, media_type="text/xml")


class Conversion(BaseModel):
    """A lead of the caller's tenant converted after one of its campaign's messages (the
    tenant is the one the caller's key is bound to, never a field of the body)."""

    campaign_id: int = Field(ge=1, le=MAX_DB_ID)
    lead_id: int = Field(ge=1, le=MAX_DB_ID)


ConversionBody = Annotated[Conversion, Depends(json_body(Conversion))]


@router.post(
    "/v1/campaigns/conversions",
    responses=error_responses(
        404,
        descriptions={
            404: "no such campaign or lead for this tenant, or the campaign never messaged the lead"
        },
    ),
    openapi_extra=json_body_doc(Conversion),
)
async def record_conversion(
    platform: PlatformDep, caller: TenantWriter, body: ConversionBody
) -> dict[str, Any]:
    """Record the conversion (once: the first time stands) for the caller's tenant; another
    tenant's campaign or lead is a 404 like one that does not exist."""
    runtime = sending_runtime(platform)
    tenant_id = caller.tenant.id

    def record() -> bool:
        with UnitOfWork(runtime.session_factory) as uow:
            scope = TenantScope(uow.session, tenant_id)
            scope.get(Campaign, body.campaign_id, "campaign")
            scope.get(Lead, body.lead_id, "lead")
            found = ledger.record_conversion(
                uow.session,
                tenant_id=tenant_id,
                campaign_id=body.campaign_id,
                lead_id=body.lead_id,
                now=runtime.clock(),
            )
            uow.commit()
            return found

    if not await run_in_threadpool(record):
        raise ApiError(404, "not_found", "this campaign sent this lead no message")
    return {"recorded": True, **body.model_dump()}
