"""Dashboard page loads (issue 18): every page of every product in headless Chromium, with
10,000 rows behind each.

A fresh data directory is filled before the server starts: 10,000 each of AdOps incidents,
assistant conversations, messages and escalations, campaign tenants, usage records, lead imports,
leads, segments and campaigns, pricing captured requests, floor decisions, outcomes and drift
reports, audit entries, backups (folders with their manifests) and recorded DR drills. The
personal data is encrypted as the platform does it. Then ``uvicorn ssmas.server:create_app_from
_env`` serves the directory and Debian's Chromium (Playwright) signs in and loads each page the
sidebar lists, each group's landing page, and one detail page per product: one warm-up load,
then ``--loads`` timed loads, each from navigation start to the ``load`` event.

- ``page_load_max_ms``: the slowest timed load of any page (the acceptance: ≤ 1,000 ms);
- ``page_load_ms``: per page, the median and worst of its timed loads;
- ``page_rows``: the rows seeded behind the pages (per table);
- ``page_load_loadavg``: the 1-minute load average before and after (the machine is shared).

    .venv/bin/python benchmarks/ops_pages.py [--quick] [--rows N] [--loads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from benchmarks._report import merge_figures, write_result  # noqa: E402

NAME = "ops_pages"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
BUDGET_MS = 1000.0


# -- seeding -----------------------------------------------------------------------------------


def _insert(conn: Any, table: str, rows: list[dict[str, Any]]) -> None:
    import sqlalchemy as sa

    meta = sa.MetaData()
    target = sa.Table(table, meta, autoload_with=conn)
    for start in range(0, len(rows), 2000):
        conn.execute(target.insert(), rows[start : start + 2000])


def seed_database(url: str, settings: Any, n: int) -> dict[str, int]:
    """``n`` rows in every table a page reads; returns the count per table."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from ssmas.core.db import make_engine
    from ssmas.core.security import record_audit
    from ssmas.core.security.pii import pii_cipher_from_settings

    cipher = pii_cipher_from_settings(settings)
    now = datetime.now(UTC)
    engine = make_engine(url)
    states = ("open", "triaged", "mitigating", "resolved", "escalated")
    severities = ("critical", "high", "medium", "low")
    counts: dict[str, int] = {}

    def put(conn: Any, table: str, rows: list[dict[str, Any]]) -> None:
        _insert(conn, table, rows)
        counts[table] = counts.get(table, 0) + len(rows)

    with engine.begin() as conn:
        put(
            conn,
            "adops_incidents",
            [
                {
                    "incident_id": f"inc-{i:06d}",
                    "correlation_key": f"publisher:p{i}",
                    "entity_type": "publisher",
                    "entity_id": f"p{i}",
                    "title": f"Fill rate dropped on publisher p{i}",
                    "problem_type": "fill_rate_drop",
                    "severity": severities[i % 4],
                    "state": states[i % 5],
                    "opened_at": now - timedelta(minutes=i),
                    "updated_at": now - timedelta(minutes=i),
                    "last_alert_at": now - timedelta(minutes=i),
                    "automated": i % 3 == 0,
                    "human_touched": False,
                    "alert_count": 1 + i % 7,
                    "entities": [f"publisher/p{i}"],
                }
                for i in range(n)
            ],
        )
        put(
            conn,
            "assistant_conversations",
            [
                {
                    "business_id": "bench",
                    "phone_index": cipher.blind_index(f"1650{i:07d}"),
                    "phone_enc": cipher.encrypt(f"1650{i:07d}"),
                    "name_enc": cipher.encrypt(f"Cliente {i}"),
                    "language": "es" if i % 2 else "en",
                    "state": ("bot", "handoff", "human")[i % 3],
                    "session_no": 1,
                    "turns": 2,
                    "last_activity_at": now - timedelta(seconds=i),
                    "created_at": now - timedelta(seconds=i),
                }
                for i in range(n)
            ],
        )
        conv_ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM assistant_conversations"))]
        put(
            conn,
            "assistant_messages",
            [
                {
                    "conversation_id": conv_ids[i % len(conv_ids)],
                    "direction": "in" if i % 2 == 0 else "out",
                    "author": "customer" if i % 2 == 0 else "bot",
                    "kind": "text",
                    "body_enc": cipher.encrypt(f"mensaje número {i}"),
                    "state": "done" if i % 2 == 0 else "sent",
                    "session_no": 1,
                    "language": "es",
                    "intent": ("order_status", "refund", "greeting")[i % 3],
                    "confidence": 0.9,
                    "sentiment": ("positive", "neutral", "negative")[i % 3],
                    "attempts": 0,
                    "created_at": now - timedelta(seconds=i),
                    "meta": {},
                }
                for i in range(n)
            ],
        )
        put(
            conn,
            "assistant_handoffs",
            [
                {
                    "conversation_id": conv_ids[i % len(conv_ids)],
                    "state": ("queued", "assigned", "closed")[i % 3],
                    "priority": ("urgent", "high", "normal", "low")[i % 4],
                    "priority_rank": i % 4,
                    "department": ("billing", "orders", "general")[i % 3],
                    "score": 50 + i % 50,
                    "reasons": ["negative sentiment"],
                    "opened_at": now - timedelta(seconds=i),
                    "sla_due_at": now + timedelta(minutes=30) - timedelta(seconds=i),
                    "agent": "agent-1" if i % 3 == 1 else None,
                }
                for i in range(n)
            ],
        )
        put(
            conn,
            "campaigns_tenants",
            [
                {
                    "slug": f"tenant-{i:05d}",
                    "name": f"Tenant {i}",
                    "tier": ("starter", "growth", "enterprise")[i % 3],
                    "status": "active",
                    "created_at": now,
                }
                for i in range(n)
            ],
        )
        tenant = conn.execute(sa.text("SELECT min(id) FROM campaigns_tenants")).scalar_one()
        tenant_ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM campaigns_tenants"))]
        put(
            conn,
            "campaigns_usage",
            [
                {
                    "tenant_id": tenant_ids[i % len(tenant_ids)],
                    "day": (now - timedelta(days=i // len(tenant_ids))).date(),
                    "metric": ("validations", "messages")[i % 2],
                    "quantity": 100 + i,
                }
                for i in range(n)
            ],
        )
        put(
            conn,
            "campaigns_imports",
            [
                {
                    "tenant_id": tenant,
                    "filename": f"leads-{i}.csv",
                    "status": "done",
                    "rows": 100,
                    "created": 90,
                    "updated": 5,
                    "duplicates": 3,
                    "rejected": 2,
                    "report": [{"row": 7, "reason": "not a Mexican number"}],
                    "started_at": now - timedelta(minutes=i),
                    "finished_at": now - timedelta(minutes=i) + timedelta(seconds=3),
                }
                for i in range(n)
            ],
        )
        import_id = conn.execute(sa.text("SELECT min(id) FROM campaigns_imports")).scalar_one()
        put(
            conn,
            "campaigns_leads",
            [
                {
                    "tenant_id": tenant,
                    "import_id": import_id,
                    "phone_index": cipher.blind_index(f"+52155{i:08d}"),
                    "phone_enc": cipher.encrypt(f"+52155{i:08d}"),
                    "phone_last4": f"{i:04d}"[-4:],
                    "line_type": "mobile",
                    "lada": "55",
                    "city": "Ciudad de México",
                    "state": "CDMX",
                    "time_zone": "America/Mexico_City",
                    "whatsapp": i % 2 == 0,
                    "quality": (i % 100) / 100,
                    "attributes_enc": cipher.encrypt(json.dumps({"first_name": f"Lead {i}"})),
                    "attribute_names": ["first_name"],
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(n)
            ],
        )
        put(
            conn,
            "campaigns_segments",
            [
                {
                    "tenant_id": tenant,
                    "name": f"Segment {i}",
                    "kind": "rules",
                    "rules": [{"field": "state", "op": "eq", "value": "CDMX"}],
                    "profile": {},
                    "size": i,
                    "created_at": now - timedelta(seconds=i),
                }
                for i in range(n)
            ],
        )
        segment = conn.execute(sa.text("SELECT min(id) FROM campaigns_segments")).scalar_one()
        put(
            conn,
            "campaigns_campaigns",
            [
                {
                    "tenant_id": tenant,
                    "segment_id": segment,
                    "name": f"Campaign {i}",
                    "channel": "sms",
                    "template": "Hola {first_name}",
                    "variables": ["first_name"],
                    "status": ("draft", "scheduled", "sending", "done")[i % 4],
                    "recipients": i,
                    "skipped": 0,
                    "enqueued": {},
                    "created_at": now - timedelta(seconds=i),
                }
                for i in range(n)
            ],
        )
        put(
            conn,
            "pricing_captures",
            [
                {
                    "captured_at": now - timedelta(seconds=i),
                    "impression_id": f"imp-{i}",
                    "variant": "champion",
                    "model_version": "1",
                    "fallback": False,
                    "request": {"publisher_id": f"p{i % 50}", "ad_size": "300x250"},
                    "predicted_cpm": 1.0 + (i % 100) / 100,
                    "lower": 0.5,
                    "upper": 2.5,
                    "latency_ms": 1.2,
                }
                for i in range(n)
            ],
        )
        put(
            conn,
            "pricing_floor_decisions",
            [
                {
                    "decided_at": now - timedelta(seconds=i),
                    "impression_id": f"imp-{i}",
                    "publisher_id": f"p{i % 50}",
                    "floor": 0.8,
                    "reason": "model",
                    "predicted_cpm": 1.1,
                    "model_version": "1",
                    "variant": "champion",
                    "fallback": False,
                    "control": i % 10 == 0,
                }
                for i in range(n)
            ],
        )
        put(
            conn,
            "pricing_outcomes",
            [
                {
                    "received_at": now - timedelta(seconds=i),
                    "impression_id": f"imp-{i}",
                    "variant": "champion",
                    "model_version": "1",
                    "predicted_cpm": 1.1,
                    "clearing_cpm": 1.3,
                    "filled": True,
                    "revenue_eur": 0.0013,
                }
                for i in range(n)
            ],
        )
    with Session(engine) as session:
        for i in range(n):
            record_audit(
                session,
                actor=f"apikey:bench{i % 10:03d}",
                action=("api_key.created", "pricing.promote", "backup.restored")[i % 3],
                target=f"target-{i}",
                details={"n": i},
                at=now - timedelta(seconds=n - i),
            )
        session.commit()
    counts["audit_log"] = n
    engine.dispose()
    return counts


def seed_backups(root: Path, n: int) -> dict[str, int]:
    """``n`` backup folders (manifests only) and ``n`` recorded drills."""
    root.mkdir(parents=True, exist_ok=True)
    start = time.time() - n * 300
    for i in range(n):
        ts = start + i * 300
        backup_id = datetime.fromtimestamp(ts, UTC).strftime("%Y%m%dT%H%M%S.%fZ") + f"-{i:06x}"
        folder = root / backup_id
        folder.mkdir()
        manifest = {
            "format": 1,
            "id": backup_id,
            "created_at": datetime.fromtimestamp(ts, UTC).isoformat(),
            "created_ts": ts,
            "key_id": "bench",
            "database": {"backend": "sqlite", "tables": {"audit_log": i}, "revision": "head"},
            "entries": [{"size": 1000 + i, "role": "database", "kind": "sqlite"}],
            "notes": [],
            "duration_s": 0.5,
        }
        (folder / "manifest.json").write_text(json.dumps(manifest))
    with (root / "drills.jsonl").open("w") as out:
        for i in range(n):
            record = {
                "at": start + i * 300,
                "backup_id": f"b{i}",
                "backend": "sqlite",
                "rto_s": 2.0,
                "rpo_s": 120.0,
                "restore_s": 1.5,
                "bytes": 10**6,
                "tables": 40,
                "rows": 50_000,
                "revision": "head",
                "checks": {"row_counts": True, "revision_at_head": True},
                "problems": [],
                "ok": True,
            }
            out.write(json.dumps(record) + "\n")
    return {"backups": n, "drills": n}


# -- loading -----------------------------------------------------------------------------------


def page_paths(base: str, page: Any) -> list[str]:
    """Every page the sidebar links, each group's landing page, and a detail page each."""
    page.goto(f"{base}/dashboard")
    hrefs = page.eval_on_selector_all(
        "nav a[href^='/dashboard']", "els => els.map(e => e.getAttribute('href'))"
    )
    paths = list(dict.fromkeys(["/dashboard", "/dashboard/health", *hrefs]))
    for group in ("pricing", "adops", "assistant", "campaigns", "ops"):
        landing = f"/dashboard/{group}"
        if landing not in paths:
            paths.append(landing)
        page.goto(f"{base}{landing}")
        more = page.eval_on_selector_all(
            f"main a[href^='/dashboard/{group}/']", "els => els.map(e => e.getAttribute('href'))"
        )
        for href in more:
            if href not in paths and not href.endswith((".png", ".json", ".js")):
                paths.append(href)
    details = [
        "/dashboard/adops/incidents/inc-000001",
        "/dashboard/assistant/conversations/1",
        "/dashboard/campaigns/imports/1",
    ]
    return [*paths, *details]


def time_load(page: Any, url: str) -> tuple[float, int]:
    """Milliseconds from navigation start to the load event, and the HTTP status."""
    response = page.goto(url, wait_until="load")
    timing = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n.loadEventEnd - n.startTime; }"
    )
    return float(timing), response.status if response is not None else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 rows, one timed load")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    rows = 1000 if args.quick else args.rows
    loads = 1 if args.quick else max(1, args.loads)
    if not CHROMIUM.exists():
        print("Debian's Chromium is not at /usr/bin/chromium (make system-deps)", file=sys.stderr)
        return 2

    import httpx
    from playwright.sync_api import sync_playwright
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from ssmas.core.db import upgrade
    from ssmas.core.platform import build_platform
    from ssmas.core.security import create_api_key
    from ssmas.ops.backup import backup_dir
    from ssmas.settings import Settings

    console = Console()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        settings = Settings(profile="test", data_dir=data_dir, secret_key="ops-pages-bench")
        settings.ensure_dirs()
        upgrade(settings.resolved_database_url)
        with console.status(f"seeding {rows:,} rows behind each page"):
            started = time.perf_counter()
            counts = seed_database(settings.resolved_database_url, settings, rows)
            counts |= seed_backups(backup_dir(settings), rows)
            seed_s = time.perf_counter() - started
        platform = build_platform(settings)
        try:
            with platform.uow() as uow:
                key, _ = create_api_key(uow.session, "ops-pages", ["*"])
                uow.commit()
        finally:
            platform.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
        env |= {
            "SSMAS_DATA_DIR": str(data_dir),
            "SSMAS_PROFILE": "test",
            "SSMAS_SECRET_KEY": "ops-pages-bench",
            "SSMAS_LOG_LEVEL": "WARNING",
        }
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "uvicorn", "ssmas.server:create_app_from_env"]
        command += ["--factory", "--host", "127.0.0.1", "--port", str(port)]
        log = (Path(tmp) / "server.log").open("w")
        server = subprocess.Popen(command, env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
        results: dict[str, dict[str, Any]] = {}
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    print((Path(tmp) / "server.log").read_text()[-3000:], file=sys.stderr)
                    return 1
                time.sleep(0.2)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                )
                context = browser.new_context(viewport={"width": 1280, "height": 860})
                context.set_default_timeout(30_000)
                page = context.new_page()
                page.goto(f"{base}/login")
                page.fill("#api_key", key)
                page.click("#sign-in")
                page.wait_for_url(f"{base}/dashboard")
                paths = page_paths(base, page)
                with Progress(console=console, transient=True) as progress:
                    task = progress.add_task("loading pages", total=len(paths))
                    for path in paths:
                        time_load(page, f"{base}{path}")  # warm-up
                        timings, statuses = [], set()
                        for _ in range(loads):
                            ms, status = time_load(page, f"{base}{path}")
                            timings.append(ms)
                            statuses.add(status)
                        results[path] = {
                            "median_ms": round(statistics.median(timings), 1),
                            "max_ms": round(max(timings), 1),
                            "status": sorted(statuses),
                        }
                        progress.advance(task)
                browser.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    load_after = os.getloadavg()[0]
    worst_path = max(results, key=lambda p: results[p]["max_ms"])
    failed = [p for p, r in results.items() if r["status"] != [200]]
    table = Table(title=f"Dashboard page loads, {rows:,} rows behind each (ms, load event)")
    for column in ("page", "median", "worst", "status"):
        table.add_column(column)
    for path, result in sorted(results.items(), key=lambda kv: -kv[1]["max_ms"]):
        table.add_row(
            path, f"{result['median_ms']:.0f}", f"{result['max_ms']:.0f}", str(result["status"])
        )
    console.print(table)
    figures = {
        "page_load_max_ms": results[worst_path]["max_ms"],
        "page_load_worst_page": worst_path,
        "page_load_within_budget": results[worst_path]["max_ms"] <= BUDGET_MS and not failed,
        "page_load_pages": len(results),
        "page_load_failed_pages": failed,
        "page_load_rows_behind_each": rows,
        "page_load_ms": results,
        "page_rows": counts,
        "page_load_seed_s": round(seed_s, 1),
        "page_load_loadavg": [round(load_before, 2), round(load_after, 2)],
    }
    print(
        f"page_load_max_ms {figures['page_load_max_ms']:.0f} ({worst_path}) over "
        f"{len(results)} pages; failed {failed or 'none'}; load average "
        f"{load_before:.2f} -> {load_after:.2f}"
    )
    notes = (
        f"{len(results)} dashboard pages in Debian's Chromium (Playwright, headless), each "
        f"loaded once to warm up then {loads} timed loads (navigation start to the load event), "
        f"{rows:,} rows behind each page; 2-core machine shared with other sessions, load "
        f"average {load_before:.2f} before and {load_after:.2f} after"
    )
    write_result(NAME, figures, notes, quick=args.quick)
    if not args.quick:
        merge_figures(
            "ops",
            {
                k: figures[k]
                for k in (
                    "page_load_max_ms",
                    "page_load_within_budget",
                    "page_load_pages",
                    "page_load_loadavg",
                )
            },
            "benchmarks/ops_pages.py",
        )
    return 0 if not failed else 1


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    raise SystemExit(main())
