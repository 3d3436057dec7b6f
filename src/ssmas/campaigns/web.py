"""Campaigns dashboard pages: tenants and usage, imports with their reports, segments, and
campaigns with live delivery and conversion counts (the table refreshes every 5 seconds).

A signed-in key bound to a tenant sees that tenant's pages only; an operator's key
(``campaigns:admin``) sees every tenant on the tenants page and picks one for the others with
``?tenant=<id>`` (the first tenant by default). Numbers never appear: leads are counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ssmas.campaigns.audience import list_campaigns, list_segments
from ssmas.campaigns.errors import NotFound
from ssmas.campaigns.leads.store import get_import, list_imports
from ssmas.campaigns.runtime import campaigns_runtime
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Lead, Tenant
from ssmas.campaigns.tenancy import (
    list_tenants,
    quotas_of,
    tenant_for_prefix,
    usage_of_tenants,
)
from ssmas.core.api.bounds import IdPath
from ssmas.core.platform import Platform
from ssmas.core.security import scopes_grant
from ssmas.web import WebUser, WebUserDep, login_redirect, register_page, render_page
from ssmas.web.access import platform_of
from ssmas.web.charts import format_number
from ssmas.web.rendering import SECURITY_HEADERS

GROUP = "campaigns"
BASE = "/dashboard/campaigns"
router = APIRouter(include_in_schema=False)
register_page(GROUP, "Tenants & usage", f"{BASE}/tenants")
register_page(GROUP, "Lead imports", f"{BASE}/imports")
register_page(GROUP, "Segments", f"{BASE}/segments")
register_page(GROUP, "Campaigns", f"{BASE}/campaigns")
TenantQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9-]+$")]

_env = Environment(
    loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
    autoescape=select_autoescape(["html"]),
)
_env.filters["number"] = format_number


def _html(name: str, **context: Any) -> Markup:
    return Markup(_env.get_template(name).render(**context))


@dataclass(frozen=True)
class Viewing:
    """The tenant a page shows, and the others an operator may switch to."""

    tenant: Tenant | None
    choices: list[str]
    admin: bool


PICKER_CHOICES = 200  # tenants an operator's picker lists (others: ?tenant=<id>)
TENANTS_PAGE = 100  # tenants per page of the tenants table


def _viewing(platform: Platform, user: WebUser, wanted: str | None) -> Viewing:
    admin = scopes_grant(user.scopes, "campaigns:admin")
    with platform.uow() as uow:
        own = tenant_for_prefix(uow.session, user.key_prefix)
        if own is not None:
            return Viewing(own, [], False)
        if not admin:
            return Viewing(None, [], False)
        tenants = list_tenants(uow.session, limit=PICKER_CHOICES)
        chosen = None
        if wanted is not None:
            chosen = uow.session.scalar(sa.select(Tenant).where(Tenant.slug == wanted))
        elif tenants:
            chosen = tenants[0]
        choices = [t.slug for t in tenants]
        if chosen is not None and chosen.slug not in choices:
            choices.append(chosen.slug)
        return Viewing(chosen, choices, True)


def _tenants(platform: Platform, after: int, own: int | None) -> list[dict[str, Any]]:
    """One page of tenants (only ``own`` if set) with their quotas, usage and lead counts,
    in three grouped queries whatever the page's size."""
    today = datetime.now(UTC).date()
    with platform.uow() as uow:
        if own is not None:
            tenants = [t for t in [uow.session.get(Tenant, own)] if t is not None]
        else:
            tenants = list_tenants(uow.session, after_id=after, limit=TENANTS_PAGE)
        ids = [t.id for t in tenants]
        month = usage_of_tenants(uow.session, ids, today.replace(day=1), today)
        day = usage_of_tenants(uow.session, ids, today, today)
        leads = dict(
            uow.session.execute(
                sa.select(Lead.tenant_id, sa.func.count())
                .where(Lead.tenant_id.in_(ids))
                .group_by(Lead.tenant_id)
            ).all()
        )
        return [
            {
                "tenant": tenant,
                "quotas": quotas_of(tenant),
                "usage": month[tenant.id],
                "today": day[tenant.id],
                "leads": int(leads.get(tenant.id, 0)),
            }
            for tenant in tenants
        ]


def _refused(request: Request, user: WebUser, title: str, view: Viewing) -> Response | None:
    if view.tenant is not None:
        return None
    text = (
        "No tenant yet: create one with `ssmas campaigns tenant create ID`."
        if view.admin
        else "Your API key acts for no tenant and lacks the scope campaigns:admin."
    )
    status = 200 if view.admin else 403
    return render_page(request, user, group=GROUP, title=title, body=text, status_code=status)


async def _view(
    request: Request, user: WebUser, tenant: str | None, title: str
) -> tuple[Viewing, Response | None]:
    """The tenant a page shows, and the answer in the page's place when there is none (refused,
    or back to the login)."""
    view = await run_in_threadpool(_viewing, platform_of(request), user, tenant)
    refused = _refused(request, user, title, view)
    if refused is None and view.tenant is None:
        refused = login_redirect(request)
    return view, refused


def _fragment(markup: object = "", status_code: int = 200) -> Response:
    """An htmx fragment (empty for a refusal or a miss): HTML with the security headers."""
    return Response(
        str(markup), media_type="text/html", status_code=status_code, headers=SECURITY_HEADERS
    )


@router.get(f"{BASE}/tenants")
async def tenants_page(
    request: Request,
    user: WebUserDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="tenants after this id")] = 0,
) -> Response:
    if user is None:
        return login_redirect(request)
    platform = platform_of(request)
    view = await run_in_threadpool(_viewing, platform, user, None)
    own = None if view.admin else (view.tenant.id if view.tenant is not None else -1)
    rows = await run_in_threadpool(_tenants, platform, after, own)
    more = view.admin and len(rows) == TENANTS_PAGE
    body = _html(
        "tenants.html",
        rows=rows,
        admin=view.admin,
        next_after=rows[-1]["tenant"].id if more else None,
        paged=after > 0,
    )
    return render_page(request, user, group=GROUP, title="Tenants & usage", body=body)


def _tenant_picker(view: Viewing, path: str) -> Markup:
    return _html("_picker.html", view=view, path=path)


@router.get(f"{BASE}/imports")
async def imports_page(request: Request, user: WebUserDep, tenant: TenantQuery = None) -> Response:
    if user is None:
        return login_redirect(request)
    platform = platform_of(request)
    view, refused = await _view(request, user, tenant, "Lead imports")
    if refused is not None or view.tenant is None:
        return refused or login_redirect(request)
    tenant_id = view.tenant.id

    def load() -> list[Any]:
        with platform.uow() as uow:
            return list_imports(TenantScope(uow.session, tenant_id), limit=200, newest=True)

    rows = await run_in_threadpool(load)
    body = _html(
        "imports.html",
        rows=rows,
        picker=_tenant_picker(view, f"{BASE}/imports"),
        tenant=view.tenant.slug,
    )
    return render_page(request, user, group=GROUP, title="Lead imports", body=body)


@router.get(BASE + "/imports/{import_id}")
async def import_page(
    import_id: IdPath, request: Request, user: WebUserDep, tenant: TenantQuery = None
) -> Response:
    if user is None:
        return login_redirect(request)
    platform = platform_of(request)
    title = f"Import {import_id}"
    view, refused = await _view(request, user, tenant, title)
    if refused is not None or view.tenant is None:
        return refused or login_redirect(request)
    tenant_id = view.tenant.id

    def load() -> Any:
        with platform.uow() as uow:
            return get_import(TenantScope(uow.session, tenant_id), import_id)

    try:
        summary = await run_in_threadpool(load)
    except NotFound as exc:
        return render_page(
            request, user, group=GROUP, title=title, body=exc.message, status_code=404
        )
    body = _html("import.html", summary=summary)
    return render_page(request, user, group=GROUP, title=title, body=body)


@router.get(f"{BASE}/segments")
async def segments_page(request: Request, user: WebUserDep, tenant: TenantQuery = None) -> Response:
    if user is None:
        return login_redirect(request)
    platform = platform_of(request)
    view, refused = await _view(request, user, tenant, "Segments")
    if refused is not None or view.tenant is None:
        return refused or login_redirect(request)
    tenant_id = view.tenant.id

    def load() -> list[Any]:
        with platform.uow() as uow:
            return list_segments(TenantScope(uow.session, tenant_id), limit=500, newest=True)

    rows = await run_in_threadpool(load)
    body = _html("segments.html", rows=rows, picker=_tenant_picker(view, f"{BASE}/segments"))
    return render_page(request, user, group=GROUP, title="Segments", body=body)


async def _campaign_rows(request: Request, view: Viewing) -> Markup:
    platform = platform_of(request)
    sender = campaigns_runtime(platform).sender
    assert view.tenant is not None
    tenant_id = view.tenant.id

    def load() -> list[Any]:
        with platform.uow() as uow:
            scope = TenantScope(uow.session, tenant_id)
            return list_campaigns(scope, sender, limit=200, newest=True)

    rows = await run_in_threadpool(load)
    return _html("_campaign_rows.html", rows=rows, sending=sender is not None)


@router.get(f"{BASE}/campaigns")
async def campaigns_page(
    request: Request, user: WebUserDep, tenant: TenantQuery = None
) -> Response:
    if user is None:
        return login_redirect(request)
    view, refused = await _view(request, user, tenant, "Campaigns")
    if refused is not None or view.tenant is None:
        return refused or login_redirect(request)
    rows = await _campaign_rows(request, view)
    body = _html(
        "campaigns.html",
        rows=rows,
        picker=_tenant_picker(view, f"{BASE}/campaigns"),
        tenant=view.tenant.slug,
    )
    return render_page(request, user, group=GROUP, title="Campaigns", body=body)


@router.get(f"{BASE}/campaigns/rows")
async def campaign_rows(request: Request, user: WebUserDep, tenant: TenantQuery = None) -> Response:
    if user is None:
        return login_redirect(request)
    view = await run_in_threadpool(_viewing, platform_of(request), user, tenant)
    if view.tenant is None:
        return _fragment(status_code=403)
    markup = await _campaign_rows(request, view)
    return _fragment(markup)
