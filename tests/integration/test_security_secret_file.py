"""The data directory's random secret: written once (0600), read back by every process."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ssmas.core.security.secret_file import (
    SecretFileError,
    data_dir_secret,
    resolve_secret_key,
    secret_path,
)
from ssmas.settings import DEV_SECRET, Settings


def test_a_fresh_data_directory_gets_a_random_private_secret_once(tmp_path: Path) -> None:
    settings = Settings(profile="dev", data_dir=tmp_path / "fresh")
    first = resolve_secret_key(settings)
    path = secret_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 43 and first != DEV_SECRET
    assert resolve_secret_key(Settings(profile="dev", data_dir=tmp_path / "fresh")) == first
    assert resolve_secret_key(Settings(profile="dev", data_dir=tmp_path / "other")) != first
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no draft left behind


def test_a_configured_secret_wins_and_writes_nothing(tmp_path: Path) -> None:
    settings = Settings(profile="dev", data_dir=tmp_path / "set", secret_key="configured-1")
    assert resolve_secret_key(settings) == "configured-1"
    assert not secret_path(settings).exists()


def test_processes_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    settings = Settings(profile="dev", data_dir=tmp_path / "race")
    with ThreadPoolExecutor(8) as pool:
        found = set(pool.map(lambda _: data_dir_secret(settings), range(32)))
    assert len(found) == 1


def test_a_truncated_secret_file_is_refused_not_used(tmp_path: Path) -> None:
    settings = Settings(profile="dev", data_dir=tmp_path / "bad")
    settings.ensure_dirs()
    secret_path(settings).write_text("short\n")
    with pytest.raises(SecretFileError, match="delete it"):
        data_dir_secret(settings)


def test_the_demo_warns_in_one_line_only_without_a_secret_key(tmp_path: Path) -> None:
    from ssmas.demo import secret_warning

    unset = Settings(profile="dev", data_dir=tmp_path / "demo")
    warning = secret_warning(unset)
    assert warning is not None and "\n" not in warning
    assert "SSMAS_SECRET_KEY is not set" in warning and str(secret_path(unset)) in warning
    assert secret_warning(unset.model_copy(update={"secret_key": "a-real-one-4711"})) is None
