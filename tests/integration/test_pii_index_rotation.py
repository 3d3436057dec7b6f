"""Rotating the blind-index key on a real database (SQLite and PostgreSQL): customers and
opt-outs are found by phone before, halfway through and after the re-indexing, and a version
still in use is never retired."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ssmas.assistant.governance import customer_conversations
from ssmas.assistant.store import conversations_for, find_conversation
from ssmas.campaigns.sending.consent import is_opted_out
from ssmas.cli import app
from ssmas.core.db.base import utcnow
from ssmas.core.security import list_audit
from ssmas.core.security.pii import PiiCipher, pii_cipher_from_settings
from ssmas.core.security.pii_index_keys import (
    activate_index_version,
    add_index_version,
    index_columns,
    index_usage,
    reindex,
    reindex_pass,
    retire_index_version,
)
from ssmas.core.security.pii_keys import PiiKeyRingError
from ssmas.settings import Settings, use_settings
from tests.integration.test_security_ops import engine, ring_of

__all__ = ["engine"]  # the SQLite / PostgreSQL database fixture of the key-ring tests

PHONES = [f"+5255{k:08d}" for k in range(40)]  # E.164, as campaigns normalises them
OPTED_OUT = PHONES[:10]


def seed(engine: sa.Engine, cipher: PiiCipher, phones: list[str]) -> None:
    """A conversation per phone (its index beside the encrypted phone) and an opt-out of
    tenant 7 for the first ten (the index alone, as campaigns keeps them)."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO assistant_conversations (business_id, phone_index, phone_enc, "
                "state, session_no, turns, last_activity_at, created_at) VALUES "
                "('b', :i, :p, 'bot', 1, 0, :t, :t)"
            ),
            [{"i": cipher.blind_index(p), "p": cipher.encrypt(p), "t": now} for p in phones],
        )
        stopped = [{"i": cipher.blind_index(p), "t": now} for p in phones if p in OPTED_OUT]
        if not stopped:
            return
        conn.execute(
            sa.text(
                "INSERT INTO campaigns_opt_outs (tenant_id, phone_index, keyword, channel, "
                "created_at) VALUES (7, :i, 'STOP', 'sms', :t)"
            ),
            stopped,
        )


def assert_everyone_found(engine: sa.Engine, cipher: PiiCipher, phones: list[str]) -> None:
    with Session(engine) as session:
        for phone in phones:
            [found] = customer_conversations(session, cipher, phone)
            assert cipher.decrypt(found.phone_enc) == phone
            assert is_opted_out(session, cipher, 7, phone) == (phone in OPTED_OUT)
            # the channel's own look-up, as an inbound message takes it
            conversation = find_conversation(session, cipher, "b", phone)
            assert conversation is not None and conversation.id == found.id
        # the workers' batch look-up finds every stored row and creates none
        batch = conversations_for(
            session, cipher, [("b", phone, None) for phone in phones], now=utcnow()
        )
        assert [created for _, created in batch] == [False] * len(phones)
        assert [cipher.decrypt(c.phone_enc) for c, _ in batch] == phones
        session.rollback()


def test_lookups_hold_through_a_rotation_and_a_used_version_is_not_retired(
    engine: sa.Engine,
) -> None:
    cipher = PiiCipher.from_secret("index-rotation-secret")
    cipher.with_ring(ring_of(engine), refresh_s=3600)
    seed(engine, cipher, PHONES)
    sources = {c.name: c.source for c in index_columns(engine)}
    assert sources["assistant_conversations.phone_index"] == "phone_enc"
    assert sources["campaigns_opt_outs.phone_index"] is None
    assert index_usage(engine) == {1: 50}
    assert_everyone_found(engine, cipher, PHONES)

    with Session(engine) as session:
        version = add_index_version(session, cipher, actor="t")
        session.commit()
    cipher.refresh(force=True)
    assert version == 2 and cipher.index_versions == [1, 2]
    assert len(cipher.blind_index(PHONES[0])) == 64  # added: matched, not yet written
    assert cipher.active_index_version == 1
    with Session(engine) as session:
        activate_index_version(session, 2, actor="t")
        session.commit()
        with pytest.raises(PiiKeyRingError, match="active one"):
            retire_index_version(session, engine, 2, actor="t")
        session.rollback()
    cipher.refresh(force=True)
    new_index = cipher.blind_index(PHONES[0])
    assert new_index.startswith("b2:") and len(new_index) == 64

    # halfway: the ten opt-outs and twenty conversations re-indexed, a customer arrives
    half = reindex_pass(engine, cipher, batch=7, max_rows=30)
    assert half.rewritten == 30 and half.unexplained == 0
    assert index_usage(engine) == {1: 20, 2: 30}
    newcomer = "+525599000001"
    seed(engine, cipher, [newcomer])
    assert_everyone_found(engine, cipher, [*PHONES, newcomer])
    with Session(engine) as session:
        with pytest.raises(PiiKeyRingError, match=r"20 stored indexes .* version b1"):
            retire_index_version(session, engine, 1, actor="t")
        session.rollback()

    done = reindex(engine, cipher, batch=7)
    assert done.rewritten == 20 and done.unexplained == 0 and done.conflicts == 0
    assert index_usage(engine) == {2: 51}
    assert_everyone_found(engine, cipher, [*PHONES, newcomer])
    with Session(engine) as session:
        retire_index_version(session, engine, 1, actor="t")
        session.commit()
        actions = [r.action for r in list_audit(session, action="pii_index_key.*")]
    assert actions == ["pii_index_key.retired", "pii_index_key.rotated", "pii_index_key.added"]
    cipher.refresh(force=True)
    assert cipher.index_versions == [2]
    assert_everyone_found(engine, cipher, [*PHONES, newcomer])


def test_an_index_the_platform_changed_meanwhile_is_left_to_the_platform(
    engine: sa.Engine,
) -> None:
    cipher = PiiCipher.from_secret("index-rotation-secret")
    cipher.with_ring(ring_of(engine), refresh_s=3600)
    seed(engine, cipher, PHONES[10:14])
    with Session(engine) as session:
        add_index_version(session, cipher, actor="t")
        activate_index_version(session, 2, actor="t")
        session.commit()
    cipher.refresh(force=True)
    moved = cipher.blind_index("+525577000000")

    def platform_write(_column: str, _rows: int) -> None:  # after the pass read its batch
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE assistant_conversations SET phone_index = :i WHERE id = 4"),
                {"i": moved},
            )

    columns = [c for c in index_columns(engine) if c.table == "assistant_conversations"]
    report = reindex_pass(engine, cipher, columns=columns, batch=2, progress=platform_write)
    # rows 1-2 were written before the platform wrote row 4 under the new version: the pass
    # re-indexes row 3 and leaves row 4 as the platform wrote it
    assert report.rewritten == 3 and report.unexplained == 0
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT phone_index FROM assistant_conversations WHERE id = 4")
            ).scalar_one()
            == moved
        )


@pytest.fixture()
def cli_settings(engine: sa.Engine, tmp_path: Path) -> Iterator[Settings]:
    own = Settings(
        profile="test",
        data_dir=tmp_path / "data",
        database_url=engine.url.render_as_string(hide_password=False),
        ops={"pii_key_refresh_s": 0.1},
    )
    own.ensure_dirs()
    with use_settings(own):
        yield own


def test_the_blind_index_cli_rotates_and_refuses_to_retire_a_used_version(
    engine: sa.Engine, cli_settings: Settings
) -> None:
    seed(engine, pii_cipher_from_settings(cli_settings), PHONES)
    runner = CliRunner()
    rotated = runner.invoke(app, ["keys", "blind-index", "rotate", "--no-reindex"])
    assert rotated.exit_code == 0, rotated.output
    assert rotated.stdout.strip().endswith("b2")
    refused = runner.invoke(app, ["keys", "blind-index", "retire", "b1"])
    assert refused.exit_code == 2
    assert "50 stored indexes are still under blind-index version b1" in refused.stderr
    assert "ssmas keys blind-index reindex" in refused.stderr
    assert runner.invoke(app, ["keys", "blind-index", "retire", "b2"]).exit_code == 2
    assert runner.invoke(app, ["keys", "blind-index", "retire", "bx"]).exit_code == 2
    again = runner.invoke(app, ["keys", "blind-index", "activate", "b2"])
    assert again.exit_code == 2 and "already active" in again.stderr
    reindexed = runner.invoke(app, ["keys", "blind-index", "reindex"])
    assert reindexed.exit_code == 0, reindexed.output
    assert "under older versions now: none" in reindexed.stderr
    status = runner.invoke(app, ["keys", "blind-index", "status"])
    assert status.exit_code == 0 and "b2" in status.stdout
    retired = runner.invoke(app, ["keys", "blind-index", "retire", "b1"])
    assert retired.exit_code == 0, retired.output
    cipher = pii_cipher_from_settings(cli_settings)
    cipher.refresh(force=True)
    assert cipher.index_versions == [2]
    assert_everyone_found(engine, cipher, PHONES)
    listed = runner.invoke(app, ["audit", "list", "--json", "--action", "pii_index_key.*"])
    assert [line.split('"action": ')[1].split('"')[1] for line in listed.stdout.splitlines()] == [
        "pii_index_key.retired",
        "pii_index_key.reindexed",
        "pii_index_key.rotated",
        "pii_index_key.added",
    ]
    # the whole rotation in one command: added, activated, every index re-indexed
    whole = runner.invoke(app, ["keys", "blind-index", "rotate"])
    assert whole.exit_code == 0, whole.output
    assert whole.stdout.strip().endswith("b3") and "older versions now: none" in whole.stderr
    assert index_usage(engine) == {3: 50}
    assert runner.invoke(app, ["keys", "blind-index", "retire", "b2"]).exit_code == 0
    cipher.refresh(force=True)
    assert cipher.index_versions == [3]
    assert_everyone_found(engine, cipher, PHONES)
