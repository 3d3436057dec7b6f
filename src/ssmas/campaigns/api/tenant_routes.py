"""A tenant's own routes: its account and invoice, bulk validation, lead imports with their
reports, and its leads. Every query runs in the caller's :class:`TenantScope`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from ssmas.campaigns.api.admin import MonthQuery, month_invoice, tenant_out
from ssmas.campaigns.api.deps import Caller, RuntimeDep, TenantReader, TenantWriter
from ssmas.campaigns.api.schemas import InvoiceOut, TenantOut
from ssmas.campaigns.counters import VALIDATIONS
from ssmas.campaigns.leads import ImportSummary, import_leads
from ssmas.campaigns.leads.scoring import score_tenant_leads
from ssmas.campaigns.leads.store import LeadView, get_import, get_lead, list_imports, list_leads
from ssmas.campaigns.phone import BulkValidationRequest, read_bulk_request
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Tenant
from ssmas.campaigns.tenancy import meter
from ssmas.core.api.bounds import MAX_ID, IdPath
from ssmas.core.api.errors import ApiError, error_responses
from ssmas.core.db import utcnow

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
R = TypeVar("R")
Limit = Annotated[int, Query(ge=1, le=1000)]
After = Annotated[int, Query(ge=0, le=MAX_ID, description="list rows after this id")]


def run_scoped(caller: Caller, work: Callable[[TenantScope], R], *, commit: bool = False) -> R:
    """``work`` on the caller's tenant scope in one unit of work (committed when asked)."""
    with caller.platform.uow() as uow:
        result = work(TenantScope(uow.session, caller.tenant.id))
        if commit:
            uow.commit()
        return result


def _me(caller: Caller) -> TenantOut:
    def work(scope: TenantScope) -> TenantOut:
        tenant = scope.session.get(Tenant, caller.tenant.id)
        assert tenant is not None
        return tenant_out(scope.session, tenant)

    return run_scoped(caller, work)


@router.get("/me")
async def me(caller: TenantReader) -> TenantOut:
    """The caller's tenant: tier, quotas and this month's usage."""
    return await run_in_threadpool(_me, caller)


@router.get("/me/invoice")
async def my_invoice(caller: TenantReader, month: MonthQuery = None) -> InvoiceOut:
    """The caller's invoice lines for a month."""

    def work(scope: TenantScope) -> InvoiceOut:
        return month_invoice(scope.session, caller.tenant, month)

    return await run_in_threadpool(run_scoped, caller, work)


def _bulk_doc() -> dict[str, Any]:
    schema = BulkValidationRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


BULK_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "every number's check in input order, and a summary",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["items", "summary"],
                    "properties": {
                        "items": {"type": "array", "items": {"type": "object"}},
                        "summary": {"type": "object"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/validate",
    responses={**BULK_ANSWER, **error_responses(429)},
    openapi_extra=_bulk_doc(),
    response_class=Response,
)
async def validate(request: Request, caller: TenantWriter, runtime: RuntimeDep) -> Response:
    """Validate up to 10,000 Mexican numbers (legacy prefixes, E.164, line type, LADA city and
    state; repeats marked with ``dedup``), within the tenant's validations a minute."""
    body = await request.body()
    try:
        batch = read_bulk_request(body)
    except ValidationError as exc:
        errors = [
            {"loc": ("body", *e["loc"]), "type": e["type"], "msg": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None
    await runtime.quotas.take_validations(caller.tenant, len(batch.phones))
    answer = await run_in_threadpool(runtime.validator.answer_json, batch)
    VALIDATIONS.labels(caller.tenant.tier).inc(len(batch.phones))

    def work(scope: TenantScope) -> None:
        meter(scope.session, caller.tenant.id, "validations", len(batch.phones), utcnow().date())

    await run_in_threadpool(run_scoped, caller, work, commit=True)
    return Response(answer, media_type="application/json")


IMPORT_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}
            },
        },
    }
}


@router.post(
    "/imports",
    status_code=201,
    openapi_extra=IMPORT_DOC,
    responses=error_responses(400, 413, 422),
)
async def create_import(
    request: Request,
    caller: TenantWriter,
    runtime: RuntimeDep,
    filename: Annotated[str, Query(min_length=1, max_length=255)] = "upload.csv",
    encoding: Literal["utf-8", "latin-1", "cp1252"] = "utf-8",
) -> ImportSummary:
    """Import a CSV or XLSX body (at most the API's body limit; larger files with
    ``ssmas campaigns import``): rows validated, deduplicated, the rest reported."""
    body = await request.body()

    def work() -> ImportSummary:
        summary = import_leads(
            caller.platform.session_factory,
            caller.tenant.id,
            filename,
            body,
            cipher=runtime.cipher,
            checker=runtime.validator,
            encoding=encoding,
        )
        _outcome, summary.quality = score_tenant_leads(
            caller.platform, caller.tenant.id, caller.tenant.slug
        )
        return summary

    return await run_in_threadpool(work)


class QualityScoring(BaseModel):
    """What a scoring run did: leads scored of those considered, and the model version."""

    scored: int
    considered: int
    model_version: str


@router.post("/leads/quality", responses=error_responses(503))
async def score_leads_quality(
    caller: TenantWriter,
    overwrite: Annotated[
        bool, Query(description="also rescore leads that already have a quality")
    ] = False,
) -> QualityScoring:
    """Score the tenant's leads with the lead-quality champion and store the scores (those
    without a quality; every lead with ``overwrite``, replacing qualities given in files);
    503 while no lead-quality model has been trained."""
    outcome, line = await run_in_threadpool(
        lambda: score_tenant_leads(
            caller.platform, caller.tenant.id, caller.tenant.slug, overwrite=overwrite
        )
    )
    if outcome is None:
        raise ApiError(503, "unavailable", line)
    return QualityScoring(
        scored=outcome.scored, considered=outcome.considered, model_version=outcome.version
    )


@router.get("/imports")
async def imports(
    caller: TenantReader, limit: Limit = 100, after: After = 0
) -> list[ImportSummary]:
    """The tenant's imports with their counts (each one's rejected rows at its own URL)."""
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: list_imports(scope, limit=limit, after_id=after)
    )


@router.get("/imports/{import_id}", responses=error_responses(404))
async def one_import(import_id: IdPath, caller: TenantReader) -> ImportSummary:
    """One import with the rows it left out and why."""
    return await run_in_threadpool(run_scoped, caller, lambda scope: get_import(scope, import_id))


@router.get("/leads")
async def leads(caller: TenantReader, limit: Limit = 100, after: After = 0) -> list[LeadView]:
    """The tenant's leads by id (numbers masked to their last four digits)."""
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: list_leads(scope, limit=limit, after_id=after)
    )


@router.get("/leads/{lead_id}", responses=error_responses(404))
async def lead(lead_id: IdPath, caller: TenantReader) -> LeadView:
    return await run_in_threadpool(run_scoped, caller, lambda scope: get_lead(scope, lead_id))
