from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ssmas.settings import Settings


def test_embedded_defaults_live_under_the_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'ssmas.db'}"
    assert s.resolved_bus_url == str(tmp_path / "bus.db")


def test_placeholder_secret_is_refused_in_prod() -> None:
    with pytest.raises(ValidationError, match="SSMAS_SECRET_KEY"):
        Settings(profile="prod", secret_key="changeme", pii_key="x")


def test_placeholder_secret_is_accepted_in_dev() -> None:
    assert Settings(profile="dev").secret_key == "dev-secret"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSMAS_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("SSMAS_BUS_BACKEND", "redis")
    monkeypatch.setenv("SSMAS_REDIS_URL", "redis://127.0.0.1:6379/3")
    s = Settings()
    assert s.resolved_database_url == "postgresql+psycopg://u@h/db"
    assert s.resolved_bus_url == "redis://127.0.0.1:6379/3"
