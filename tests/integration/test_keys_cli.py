"""``ssmas db`` and ``ssmas keys`` through the real CLI, on a temporary data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssmas.cli import app
from ssmas.core.db import UnitOfWork, current_revision, head_revision, make_engine
from ssmas.core.security import list_audit, verify_api_key
from ssmas.settings import Settings, use_settings

runner = CliRunner()


@pytest.fixture()
def data_dir(tmp_path: Path) -> Iterator[Path]:
    settings = Settings(profile="test", data_dir=tmp_path / "data", database_url=None)
    with use_settings(settings):  # what the commands read
        yield settings.data_dir


def db_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'ssmas.db'}"


def test_db_upgrade_then_current(data_dir: Path) -> None:
    before = runner.invoke(app, ["db", "current"])
    assert before.exit_code == 0 and before.stdout.strip() == "none"
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert current_revision(db_url(data_dir)) == head_revision()
    after = runner.invoke(app, ["db", "current"])
    assert after.stdout.strip() == head_revision()


@pytest.mark.postgres
def test_db_upgrade_with_explicit_url(data_dir: Path, pg_url: str) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--url", pg_url])
    assert result.exit_code == 0, result.output
    assert current_revision(pg_url) == head_revision()


def test_create_prints_a_working_key_once_and_audits(data_dir: Path) -> None:
    result = runner.invoke(
        app, ["keys", "create", "pricing bot", "--scope", "pricing:read", "-s", "assistant:*"]
    )
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip()
    assert raw.startswith("ssmas_") and "\n" not in raw
    assert "not shown again" in result.stderr
    engine = make_engine(db_url(data_dir))
    with UnitOfWork(engine) as uow:
        record = verify_api_key(uow.session, raw)
        audit = list_audit(uow.session, limit=5)
    engine.dispose()
    assert record is not None and record.name == "pricing bot"
    assert record.scopes == ["pricing:read", "assistant:*"]
    assert [(a.action, a.target) for a in audit] == [("api_key.created", record.prefix)]

    listing = runner.invoke(app, ["keys", "list"])
    assert listing.exit_code == 0
    assert record.prefix in listing.stdout and "pricing" in listing.stdout
    assert raw.split("_", 2)[2] not in listing.stdout
    assert "active" in listing.stdout


def test_revoke_by_prefix_or_whole_key(data_dir: Path) -> None:
    first = runner.invoke(app, ["keys", "create", "a", "-s", "admin"]).stdout.strip()
    second = runner.invoke(app, ["keys", "create", "b", "-s", "admin"]).stdout.strip()
    prefix = first.split("_")[1]
    assert runner.invoke(app, ["keys", "revoke", prefix]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", second]).exit_code == 0
    engine = make_engine(db_url(data_dir))
    with UnitOfWork(engine) as uow:
        assert verify_api_key(uow.session, first) is None
        assert verify_api_key(uow.session, second) is None
    engine.dispose()
    listing = runner.invoke(app, ["keys", "list"]).stdout
    assert listing.count("revoked") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["keys", "create", "x", "--scope", "Pricing Read"], "invalid scope"),
        (["keys", "create", "x", "--scope", "pricing:read:all"], "invalid scope"),
        (["keys", "create", "x"], "at least one --scope"),
        (["keys", "create", " ", "-s", "admin"], "non-empty NAME"),
        (["keys", "revoke", "nosuch00"], "no API key with prefix 'nosuch00'"),
        (
            ["db", "upgrade", "--url", "postgresql://nobody@127.0.0.1:1/x"],
            "cannot use the database",
        ),
        (["db", "current", "--url", "not a url"], "invalid database URL"),
        (["db", "upgrade", "--url", "mysqlx://h/db"], "unsupported database URL"),
        (["db", "upgrade", "--revision", "9999_nope"], "migration failed"),
    ],
)
def test_bad_input_exits_2_with_one_line(data_dir: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output


def test_unreachable_settings_database_exits_2(data_dir: Path) -> None:
    unreachable = Settings(profile="test", database_url="postgresql://nobody@127.0.0.1:1/x")
    with use_settings(unreachable):
        result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot use the database at postgresql")


def test_installed_entry_point_exits_2_in_a_real_process(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "ssmas"
    if not script.is_file():
        pytest.skip(f"no `ssmas` console script next to {sys.executable}")
    env = {**os.environ, "SSMAS_DATA_DIR": str(tmp_path / "d"), "SSMAS_PROFILE": "test"}
    env.pop("SSMAS_DATABASE_URL", None)
    bad = subprocess.run(
        [str(script), "keys", "revoke", "zzzzzzzz"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: no API key with prefix 'zzzzzzzz' (see `ssmas keys list`)"
    assert bad.stdout == ""
