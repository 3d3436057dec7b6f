"""The PII key ring and the audit log on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ssmas.bootstrap import create_app
from ssmas.cli import app
from ssmas.core.db import make_engine, upgrade
from ssmas.core.db.base import utcnow
from ssmas.core.platform import build_platform
from ssmas.core.security import create_api_key, list_audit, record_audit
from ssmas.core.security.audit import verify_audit_chain
from ssmas.core.security.pii import PiiCipher, RingEntry
from ssmas.core.security.pii_keys import (
    PiiKeyRingError,
    add_key,
    key_usage,
    pii_columns,
    read_ring,
    reencrypt,
    retire_key,
)
from ssmas.settings import Settings, use_settings
from tests.conftest import PG_ADMIN_URL


def ring_of(engine: sa.Engine) -> Callable[[], list[RingEntry]]:
    def load() -> list[RingEntry]:
        with Session(engine) as session:
            return read_ring(session)

    return load


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated database of this test alone (a fresh PostgreSQL one: the rotation counts and
    re-encrypts every PII row there is)."""
    if request.param == "sqlite":
        url, admin, name = f"sqlite:///{tmp_path / 'db.sqlite'}", None, ""
    else:
        name = f"ssmas_secops_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _conversations(engine: sa.Engine, cipher: PiiCipher, n: int) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO assistant_conversations (business_id, phone_index, phone_enc, "
                "name_enc, state, session_no, turns, last_activity_at, created_at) VALUES "
                "('b', :i, :p, :n, 'bot', 1, 0, :t, :t)"
            ),
            [
                {
                    "i": f"idx-{k}-{now.timestamp()}",
                    "p": cipher.encrypt(f"1650555{k:04d}"),
                    "n": None if k % 3 == 0 else cipher.encrypt(f"Name {k}"),
                    "t": now,
                }
                for k in range(n)
            ],
        )


def test_the_pii_columns_are_found_by_convention(engine: sa.Engine) -> None:
    found = {(c.table, c.column) for c in pii_columns(engine)}
    assert {("assistant_conversations", "phone_enc"), ("assistant_messages", "body_enc")} <= found
    assert ("campaigns_leads", "attributes_enc") in found
    assert ("campaigns_send_ledger", "phone_enc") in found


def test_rotate_reencrypt_retire(engine: sa.Engine) -> None:
    cipher = PiiCipher.from_secret("rotation-secret")
    cipher.with_ring(ring_of(engine), refresh_s=3600)
    _conversations(engine, cipher, 30)  # 30 phones + 20 names under key 1
    assert key_usage(engine) == {1: 50}
    with Session(engine) as session:
        with pytest.raises(PiiKeyRingError, match="active key"):
            retire_key(session, engine, 1, actor="t", retire_after_s=0)
        assert add_key(session, cipher, actor="t") == 2
        session.commit()
        # Key 1 still holds ciphertexts: it can't be retired yet.
        with pytest.raises(PiiKeyRingError, match="50 ciphertexts"):
            retire_key(session, engine, 1, actor="t", retire_after_s=0)
        session.rollback()
        with pytest.raises(PiiKeyRingError, match="in flight"):
            retire_key(session, engine, 1, actor="t", retire_after_s=3600)
        session.rollback()
    cipher.refresh(force=True)
    report = reencrypt(engine, cipher, settle_s=0, sleep=lambda _s: None, batch=7)
    assert report.rewritten == 50 and report.undecryptable == 0
    assert key_usage(engine) == {2: 50}
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT name_enc FROM assistant_conversations")).scalars()
        assert sorted(cipher.decrypt(v) for v in names if v) == sorted(
            f"Name {k}" for k in range(30) if k % 3
        )
    with Session(engine) as session:
        retire_key(session, engine, 1, actor="t", retire_after_s=0)
        session.commit()
        states = {e.id: (e.state, e.wrapped is None) for e in read_ring(session)}
        assert states == {1: ("retired", True), 2: ("active", False)}
        actions = [r.action for r in list_audit(session, action="pii_key.*")]
        assert actions == ["pii_key.retired", "pii_key.rotated"]


def test_a_row_changed_during_reencryption_keeps_the_newer_value(engine: sa.Engine) -> None:
    cipher = PiiCipher.from_secret("race-secret")
    cipher.with_ring(ring_of(engine), refresh_s=3600)
    _conversations(engine, cipher, 3)
    with Session(engine) as session:
        add_key(session, cipher, actor="t")
        session.commit()
    cipher.refresh(force=True)
    newer = cipher.encrypt("Changed meanwhile")

    def platform_write(_column: str, _rows: int) -> None:
        with engine.begin() as conn:  # the platform rewrites every name after our read
            conn.execute(sa.text("UPDATE assistant_conversations SET name_enc = :v"), {"v": newer})

    reencrypt(engine, cipher, settle_s=0, sleep=lambda _s: None, progress=platform_write)
    with engine.connect() as conn:
        names = set(conn.execute(sa.text("SELECT name_enc FROM assistant_conversations")).scalars())
    assert names == {newer}


def test_the_audit_log_refuses_update_and_delete(engine: sa.Engine) -> None:
    with Session(engine) as session:
        record_audit(session, actor="t", action="test.one", target="x", details={"n": 1})
        session.commit()
    for statement in (
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE audit_log"))
    with Session(engine) as session:
        assert verify_audit_chain(session).ok


def test_concurrent_appends_keep_one_chain(engine: sa.Engine) -> None:
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            for n in range(10):
                with Session(engine) as session:
                    record_audit(
                        session,
                        actor=f"w{worker}",
                        action="test.concurrent",
                        target=str(n),
                        at=utcnow() + timedelta(microseconds=n),
                    )
                    session.commit()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session(engine) as session:
        report = verify_audit_chain(session)
        assert report.ok, report
        assert len(list_audit(session, 1000, action="test.concurrent")) >= 40


def test_verify_finds_an_entry_altered_behind_the_triggers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        for n in range(3):
            record_audit(session, actor="cli", action="api_key.created", target=f"k{n}")
        session.commit()
    with engine.begin() as conn:  # an intruder who can drop triggers
        conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
        conn.execute(sa.text("UPDATE audit_log SET target = 'other' WHERE id = 2"))
    with Session(engine) as session:
        report = verify_audit_chain(session)
    assert not report.ok and report.broken_at == 2 and "altered" in report.reason
    engine.dispose()


@pytest.fixture()
def cli_settings(tmp_path: Path) -> Iterator[Settings]:
    """The commands' settings (``use_settings``: the environment may already have been read
    into the process-wide settings by an earlier test, pointing at the default data dir)."""
    own = Settings(profile="test", data_dir=tmp_path / "data", ops={"pii_key_refresh_s": 0.1})
    with use_settings(own):
        yield own


def test_audit_and_pii_cli(cli_settings: Settings) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "ops", "--scope", "admin"])
    assert created.exit_code == 0, created.output
    rotated = runner.invoke(app, ["keys", "pii", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert rotated.stdout.strip().endswith("k2")
    refused = runner.invoke(app, ["keys", "pii", "retire", "k1"])
    assert refused.exit_code == 2 and "in flight" in refused.output
    assert runner.invoke(app, ["keys", "pii", "retire", "zz"]).exit_code == 2
    status = runner.invoke(app, ["keys", "pii", "status"])
    assert status.exit_code == 0, status.output
    cells = [line.strip("│┃ ").split() for line in status.stdout.splitlines()]
    states = {row[0]: row[2] for row in cells if row and row[0] in ("k1", "k2")}
    assert states == {"k1": "decrypt", "k2": "active"}, status.stdout
    listed = runner.invoke(app, ["audit", "list", "--json"])
    assert listed.exit_code == 0
    actions = [line for line in listed.stdout.splitlines() if line.startswith("{")]
    assert [a.split('"action": ')[1].split('"')[1] for a in actions] == [
        "pii_key.reencrypted",
        "pii_key.rotated",
        "api_key.created",
    ]
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0 and "3 entries" in verified.output


def test_the_audit_api_pages_newest_first_and_needs_admin(settings: Settings) -> None:
    platform = build_platform(settings)
    try:
        with platform.uow() as uow:
            admin, _ = create_api_key(uow.session, "admin", ["admin"])
            reader, _ = create_api_key(uow.session, "reader", ["pricing:read"])
            for n in range(5):
                record_audit(uow.session, actor="t", action="test.page", target=str(n))
            uow.commit()
        with TestClient(create_app(platform)) as client:
            assert client.get("/v1/audit").status_code == 401
            denied = client.get("/v1/audit", headers={"X-API-Key": reader})
            assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
            headers = {"X-API-Key": admin}
            first = client.get("/v1/audit?limit=3&action=test.page", headers=headers).json()
            assert [e["target"] for e in first["entries"]] == ["4", "3", "2"]
            assert all(len(e["hash"]) == 64 for e in first["entries"])
            rest = client.get(
                f"/v1/audit?limit=3&action=test.page&before={first['next_before']}",
                headers=headers,
            ).json()
            assert [e["target"] for e in rest["entries"]] == ["1", "0"]
            assert rest["next_before"] is None
            bad = client.get("/v1/audit?action=DROP%20TABLE", headers=headers)
            assert bad.status_code == 422 and "error" in bad.json()
    finally:
        platform.close()


def test_rotation_reaches_the_encrypted_media_files(engine: sa.Engine, tmp_path: Path) -> None:
    from ssmas.assistant.media.objects import ObjectStore

    cipher = PiiCipher.from_secret("media-rotation-secret")
    cipher.with_ring(ring_of(engine), refresh_s=3600)
    store = ObjectStore(tmp_path / "media", cipher)
    voice, invoice = b"OggS voice note bytes", b"%PDF-1.4 invoice 4471"
    paths = [store.put(voice, "audio/ogg"), store.put(invoice, "application/pdf")]
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / "full.enc").write_bytes(b"not ours: another key's backup")
    assert key_usage(engine, files_root=tmp_path) == {1: 2}
    with Session(engine) as session:
        add_key(session, cipher, actor="t")
        session.commit()
        with pytest.raises(PiiKeyRingError, match="2 ciphertexts"):
            retire_key(session, engine, 1, actor="t", retire_after_s=0, files_root=tmp_path)
        session.rollback()
    cipher.refresh(force=True)
    report = reencrypt(engine, cipher, settle_s=0, sleep=lambda _s: None, files_root=tmp_path)
    assert report.files == 2 and report.undecryptable == 0
    assert key_usage(engine, files_root=tmp_path) == {2: 2}
    with Session(engine) as session:
        retire_key(session, engine, 1, actor="t", retire_after_s=0, files_root=tmp_path)
        session.commit()
    cipher.refresh(force=True)
    assert [store.get(p) for p in paths] == [voice, invoice]  # same names, readable under k2
    assert (tmp_path / "backups" / "full.enc").read_bytes().startswith(b"not ours")
