"""The Ops pages of backups and DR drills, and of the audit log with the PII key ring.

**Backups & drills** lists the newest backups (id, time, size, files, database and its rows),
says how old the newest is against the schedule, and shows the recorded DR drills (RTO, RPO,
checks). It reads the backup folder only: the newest manifests and the drills record's tail.

**Audit & keys** (``admin`` scope) pages through the append-only audit log, newest first,
filtered by action, and shows the PII key ring: each key version's state and how many
ciphertexts it holds (a rotation's progress).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ssmas.core.platform import Platform
from ssmas.core.security import scopes_grant
from ssmas.core.security.audit import list_audit
from ssmas.core.security.pii_keys import ring_status
from ssmas.ops.backup import backup_dir
from ssmas.ops.backup.history import newest_backups, recent_drills
from ssmas.web import WebUserDep, login_redirect, register_page, render_page
from ssmas.web.charts import format_number

GROUP = "ops"
BACKUPS_TITLE, BACKUPS_PATH = "Backups & drills", "/dashboard/ops/backups"
AUDIT_TITLE, AUDIT_PATH = "Audit log & keys", "/dashboard/ops/audit"
BACKUPS_SHOWN = 50
DRILLS_SHOWN = 20
AUDIT_PAGE = 100
MAX_ID = 2**63 - 1

_templates = Environment(
    loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
    autoescape=select_autoescape(["html"]),
)
_templates.filters["number"] = format_number
web_router = APIRouter(include_in_schema=False)
register_page(GROUP, BACKUPS_TITLE, BACKUPS_PATH)
register_page(GROUP, AUDIT_TITLE, AUDIT_PATH)


def _html(template: str, **context: Any) -> Markup:
    return Markup(_templates.get_template(template).render(**context))


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"


def backups_context(platform: Platform, now: float) -> dict[str, Any]:
    """What the backups page shows (read from the backup folder only)."""
    settings = platform.settings
    root = backup_dir(settings)
    listing = newest_backups(root, BACKUPS_SHOWN)
    rows = []
    for backup in listing.backups:
        database = backup.manifest.get("database") or {}
        tables = database.get("tables") or {}
        rows.append(
            {
                "id": backup.id,
                "created_at": str(backup.manifest.get("created_at", ""))[:19].replace("T", " "),
                "size": _size(backup.size),
                "files": len(backup.entries),
                "backend": database.get("backend", "?"),
                "rows": sum(int(v) for v in tables.values()),
                "seconds": backup.manifest.get("duration_s"),
            }
        )
    newest_age = now - listing.backups[0].created_ts if listing.backups else None
    interval = settings.ops.backup_interval_s
    return {
        "root": str(root),
        "backups": rows,
        "total": listing.total,
        "shown": len(rows),
        "newest_age": newest_age,
        "late": newest_age is None or newest_age > 2 * interval,
        "interval": interval,
        "keep": settings.ops.backup_keep,
        "keep_days": settings.ops.backup_keep_days,
        "drills": [_drill_view(d) for d in recent_drills(root, DRILLS_SHOWN)],
    }


def _drill_view(record: dict[str, Any]) -> dict[str, Any]:
    checks = record.get("checks") or {}
    at = record.get("at")
    return {
        "at_text": datetime.fromtimestamp(float(at), UTC).strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(at, int | float)
        else "?",
        "backup_id": str(record.get("backup_id", "?")),
        "backend": str(record.get("backend", "?")),
        "rto_s": float(record.get("rto_s") or 0.0),
        "rpo_s": float(record.get("rpo_s") or 0.0),
        "tables": int(record.get("tables") or 0),
        "rows": int(record.get("rows") or 0),
        "checks_passed": sum(1 for ok in checks.values() if ok),
        "checks_total": len(checks),
        "ok": bool(record.get("ok")),
        "problems": [str(p) for p in record.get("problems") or []],
    }


@web_router.get(BACKUPS_PATH)
async def backups_page(request: Request, user: WebUserDep) -> Response:
    if user is None:
        return login_redirect(request)
    platform: Platform = request.app.state.platform
    context = await run_in_threadpool(backups_context, platform, time.time())
    body = _html("ops_backups.html", **context)
    return render_page(request, user, group=GROUP, title=BACKUPS_TITLE, body=body)


def audit_context(platform: Platform, *, before: int | None, action: str | None) -> dict[str, Any]:
    with platform.uow() as uow:
        entries = list_audit(uow.session, AUDIT_PAGE, action=action, before_id=before)
        keys = ring_status(uow.session, platform.engine, files_root=platform.settings.data_dir)
    more = len(entries) == AUDIT_PAGE
    return {
        "entries": entries,
        "keys": keys,
        "action": action or "",
        "next_before": entries[-1].id if more and entries else None,
        "first_page": before is None,
    }


@web_router.get(AUDIT_PATH)
async def audit_page(
    request: Request,
    user: WebUserDep,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    action: Annotated[str, Query(max_length=100, pattern=r"^[a-z0-9_.*]*$")] = "",
) -> Response:
    if user is None:
        return login_redirect(request)
    if not scopes_grant(user.scopes, "admin"):
        body = "The audit log needs an API key with the admin scope."
        return render_page(
            request, user, group=GROUP, title=AUDIT_TITLE, body=body, status_code=403
        )
    platform: Platform = request.app.state.platform
    context = await run_in_threadpool(
        lambda: audit_context(platform, before=before, action=action or None)
    )
    body = _html("ops_audit.html", **context)
    return render_page(request, user, group=GROUP, title=AUDIT_TITLE, body=body)
