"""The Ops pages of backups and drills, and of the audit log with the PII key ring."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.security import create_api_key, record_audit
from ssmas.ops.backup import backup_dir
from ssmas.ops.backup.archive import DrillReport
from ssmas.ops.backup.history import DRILLS_FILE, newest_backups, recent_drills, record_drill
from ssmas.ops.backup.worker import backup_once
from ssmas.settings import Settings

BACKUPS, AUDIT = "/dashboard/ops/backups", "/dashboard/ops/audit"


@contextmanager
def signed_in(settings: Settings, scopes: list[str]) -> Iterator[TestClient]:
    with TestClient(create_app(settings=settings)) as client:
        platform = client.app.state.platform  # type: ignore[attr-defined]
        with platform.uow() as uow:
            raw, _ = create_api_key(uow.session, "ops-admin-web", scopes)
            uow.commit()
        response = client.post("/login", data={"api_key": raw}, follow_redirects=False)
        assert response.status_code == 303
        yield client


def _drill(backup_id: str, ok: bool) -> DrillReport:
    return DrillReport(
        backup_id=backup_id,
        backend="sqlite",
        rto_s=1.25,
        rpo_s=30.0,
        restore_s=1.0,
        bytes=1000,
        tables=40,
        rows=1234,
        revision="0016_security_ops",
        checks={"manifest": True, "row counts": ok},
        problems=[] if ok else ["row counts differ in audit_log"],
    )


def test_the_backups_page_shows_backups_and_recorded_drills(settings: Settings) -> None:
    with signed_in(settings, ["ops:read"]) as client:
        empty = client.get(BACKUPS)
        assert empty.status_code == 200
        assert 'data-total="0"' in empty.text and "No drill recorded." in empty.text
        backup, _ = backup_once(settings)
        root = backup_dir(settings)
        record_drill(root, _drill(backup.id, True), at=time.time() - 60)
        record_drill(root, _drill(backup.id, False), at=time.time())
        page = client.get(BACKUPS)
        assert page.status_code == 200
        assert f'data-backup="{backup.id}"' in page.text and 'data-late="false"' in page.text
        assert page.text.count("data-drill-ok=") == 2
        # Newest first: the failed drill, with its problem, above the passed one.
        assert page.text.index('data-drill-ok="false"') < page.text.index('data-drill-ok="true"')
        assert "row counts differ in audit_log" in page.text and "1/2" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_the_backup_listing_reads_only_the_newest_manifests(settings: Settings) -> None:
    root = backup_dir(settings)
    for n in range(30):
        folder = root / f"20260101T0000{n:02d}.000000Z-aaaaaa"
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(
            json.dumps({"id": folder.name, "created_ts": n, "entries": []})
        )
    (root / "20260101T000005.000000Z-aaaaaa" / "manifest.json").write_text("{broken")
    listing = newest_backups(root, 5)
    assert [b.id[:15] for b in listing.backups] == [f"20260101T0000{n}" for n in range(29, 24, -1)]
    assert listing.total == 30  # the broken one is past the newest five: counted, not read


def test_drills_are_read_newest_first_from_the_end_of_the_record(settings: Settings) -> None:
    root = backup_dir(settings)
    for n in range(3000):  # a record larger than one read-back chunk
        record_drill(root, _drill(f"b{n}", n % 2 == 0), at=float(n))
    with (root / DRILLS_FILE).open("a") as out:
        out.write('{"cut short by a cra')  # a crash mid-write
    drills = recent_drills(root, 20)
    assert [d["backup_id"] for d in drills] == [f"b{n}" for n in range(2999, 2979, -1)]


def test_the_audit_page_pages_the_log_and_shows_the_key_ring(settings: Settings) -> None:
    with signed_in(settings, ["admin"]) as client:
        platform = client.app.state.platform  # type: ignore[attr-defined]
        with platform.uow() as uow:
            for n in range(150):
                record_audit(uow.session, actor="t", action="test.page", target=f"t{n}")
            uow.commit()
        page = client.get(AUDIT)
        assert page.status_code == 200
        assert page.text.count('data-action="test.page"') == 100  # the newest page of 100
        assert 'id="audit-older"' in page.text
        assert 'data-key="k1"' in page.text and 'data-state="active"' in page.text
        older = client.get(AUDIT, params={"action": "test.page", "before": 60})
        assert older.status_code == 200
        assert older.text.count("data-audit=") == 58 and 'id="audit-older"' not in older.text
        bad = client.get(AUDIT, params={"before": "x"})
        assert bad.status_code == 422 and "error" in bad.json()


def test_the_audit_page_needs_the_admin_scope(settings: Settings) -> None:
    with signed_in(settings, ["ops:read"]) as client:
        page = client.get(AUDIT)
        assert page.status_code == 403 and "admin scope" in page.text
