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


def test_whatsapp_section_reads_the_ssmas_whatsapp_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSMAS_WHATSAPP_SEND_RATE_PER_S", "100000")
    monkeypatch.setenv("SSMAS_WHATSAPP_GRAPH_URL", "http://127.0.0.1:9999/v23.0")
    monkeypatch.setenv("SSMAS_WHATSAPP_BRAIN", "pkg.mod:factory")
    monkeypatch.setenv("SSMAS_RATE_LIMIT_PER_S", "7")  # a platform field with the same shape
    s = Settings(profile="test")
    assert s.whatsapp.send_rate_per_s == 100000.0 and s.whatsapp.number_burst == 100000
    assert s.whatsapp.graph_url == "http://127.0.0.1:9999/v23.0"
    assert s.whatsapp.brain == "pkg.mod:factory"
    assert s.rate_limit_per_s == 7.0
    # explicit values and the environment merge, field by field
    mixed = Settings(profile="test", whatsapp={"recipient_burst": 3})
    assert mixed.whatsapp.recipient_burst == 3 and mixed.whatsapp.send_rate_per_s == 100000.0


def test_the_compatibility_shim_reads_the_same_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ssmas.assistant.whatsapp.config import WhatsAppSettings

    monkeypatch.setenv("SSMAS_WHATSAPP_RETRY_BACKOFF_S", "0.05")
    assert WhatsAppSettings().retry_backoff_s == 0.05
    assert WhatsAppSettings(retry_backoff_s=1.0).retry_backoff_s == 1.0


def test_send_pacing_follows_the_platform_rate_limit_backend() -> None:
    assert Settings(profile="test").whatsapp.pacing_backend == "memory"
    shared = Settings(profile="test", rate_limit_backend="redis", redis_url="redis://h:6379/2")
    assert shared.whatsapp.pacing_backend == "redis"
    assert shared.whatsapp.pacing_redis_url == "redis://h:6379/2"
    own = Settings(
        profile="test",
        rate_limit_backend="redis",
        whatsapp={"pacing_backend": "memory"},
    )
    assert own.whatsapp.pacing_backend == "memory"


REAL_WHATSAPP = {
    "app_secret": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "verify_token": "verify-8c1d7e",
    "access_token": "EAAG-real-token",
}
PROD = {"profile": "prod", "secret_key": "a-real-secret-key-0123456789", "pii_key": "x"}


def test_real_whatsapp_secrets_pass_in_prod() -> None:
    s = Settings(**PROD, whatsapp=REAL_WHATSAPP)  # type: ignore[arg-type]
    assert s.whatsapp.access_token == "EAAG-real-token"


@pytest.mark.parametrize(
    ("field", "placeholder"),
    [
        ("app_secret", "test_app_secret_123"),
        ("app_secret", ""),
        ("verify_token", "my-verify-token"),
        ("verify_token", "changeme"),
        ("access_token", "dev-access-token"),
        ("access_token", " Placeholder "),
    ],
)
def test_placeholder_whatsapp_secrets_are_refused_in_prod(field: str, placeholder: str) -> None:
    whatsapp = {**REAL_WHATSAPP, field: placeholder}
    with pytest.raises(ValidationError, match=f"SSMAS_WHATSAPP_{field.upper()}"):
        Settings(**PROD, whatsapp=whatsapp)  # type: ignore[arg-type]


def test_whatsapp_placeholders_are_fine_in_dev_and_test() -> None:
    for profile in ("dev", "test"):
        s = Settings(profile=profile)  # type: ignore[arg-type]
        assert s.whatsapp.app_secret == "test_app_secret_123"
        assert s.whatsapp.placeholder_secrets() == [
            "SSMAS_WHATSAPP_APP_SECRET",
            "SSMAS_WHATSAPP_VERIFY_TOKEN",
            "SSMAS_WHATSAPP_ACCESS_TOKEN",
        ]
