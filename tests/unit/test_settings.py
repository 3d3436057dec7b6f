from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from ssmas.settings import (
    REFERENCE_COMMAND,
    SECTIONS,
    Settings,
    SettingsError,
    WhatsAppSettings,
    export_environment,
    get_settings,
    load_settings,
    settings_environment,
    settings_reference,
    use_settings,
)


def test_embedded_defaults_live_under_the_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'ssmas.db'}"
    assert s.resolved_bus_url == str(tmp_path / "bus.db")


def test_placeholder_secret_is_refused_in_prod() -> None:
    with pytest.raises(ValidationError, match="SSMAS_SECRET_KEY"):
        Settings(profile="prod", secret_key="changeme", pii_key="x")


def test_there_is_no_public_default_secret_and_placeholders_are_refused_everywhere() -> None:
    assert Settings(profile="dev").secret_key is None  # the data directory's random one is used
    assert Settings(profile="dev", secret_key="  ").secret_key is None
    for profile in ("dev", "test"):
        for placeholder in ("dev-secret", "changeme", "Secret"):
            with pytest.raises(ValidationError, match="SSMAS_SECRET_KEY is a public placeholder"):
                Settings(profile=profile, secret_key=placeholder)


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


def test_escalation_notifier_urls_are_checked_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SSMAS_WHATSAPP_ESCALATION_NOTIFY_URLS", '["webhook+https://hooks.example/x"]'
    )
    assert Settings(profile="test").whatsapp.escalation_notify_urls == [
        "webhook+https://hooks.example/x"
    ]
    monkeypatch.setenv("SSMAS_WHATSAPP_ESCALATION_NOTIFY_URLS", '["ftp://files.example/x"]')
    with pytest.raises(ValidationError, match="unknown notifier scheme 'ftp'"):
        Settings(profile="test")


def test_the_assistant_config_name_is_the_settings_section() -> None:
    from ssmas.assistant.whatsapp import config

    assert config.WhatsAppSettings is WhatsAppSettings  # no second reader of the environment


def test_pricing_section_reads_the_ssmas_pricing_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SSMAS_PRICING_TIMEOUT_MS", "80")
    monkeypatch.setenv("SSMAS_PRICING_CHALLENGER_ENABLED", "false")
    monkeypatch.setenv("SSMAS_PRICING_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("SSMAS_PRICING_RETRAIN_WINDOW_DAYS", "5")
    monkeypatch.setenv("SSMAS_PRICING_RETRAIN_INTERVAL_S", "60")
    monkeypatch.setenv("SSMAS_SHARED_DATA", str(tmp_path / "corpora"))
    s = Settings(profile="test")
    assert s.pricing.timeout_ms == 80.0 and s.pricing.challenger_enabled is False
    assert s.pricing.lake == tmp_path / "lake"
    assert (s.pricing.retrain_window_days, s.pricing.retrain_interval_s) == (5, 60.0)
    assert s.pricing.batch_timeout_ms == 250.0  # the rest keeps its default
    assert s.shared_data == tmp_path / "corpora"
    assert Settings(profile="test", pricing={"timeout_ms": 20}).pricing.timeout_ms == 20.0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SSMAS_PRICING_RETENTION_HOURS", "-3", "SSMAS_PRICING_RETENTION_HOURS: Input should be"),
        ("SSMAS_PRICING_RETENTION_HOURS", "0.25", "keeps less than the drift window"),
        ("SSMAS_PRICING_RETRAIN_INTERVAL_S", "0", "SSMAS_PRICING_RETRAIN_INTERVAL_S: Input"),
        ("SSMAS_WHATSAPP_SEND_RATE_PER_S", "fast", "SSMAS_WHATSAPP_SEND_RATE_PER_S: Input"),
        ("SSMAS_PORT", "eighty", "SSMAS_PORT: Input should be a valid integer"),
        ("SSMAS_PROFILE", "prod", "SSMAS_SECRET_KEY must be set"),
    ],
)
def test_bad_settings_are_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    text = str(caught.value)
    assert text.startswith("invalid settings: ") and message in text, text
    assert "\n" not in text
    with pytest.raises(SettingsError), use_settings(None):
        get_settings()  # the process-wide settings fail the same way


def test_use_settings_installs_the_process_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = Settings(profile="test", port=8123)
    with use_settings(chosen):
        assert get_settings() is chosen
        with use_settings(None):
            monkeypatch.setenv("SSMAS_PORT", "8124")
            fresh = get_settings()
            assert fresh.port == 8124 and get_settings() is fresh  # read once
        assert get_settings() is chosen


def test_exported_sections_read_back_as_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    original = Settings(
        _env_file=None,  # type: ignore[call-arg]
        profile="test",
        data_dir=tmp_path / "d",
        rate_limit_per_s=12.5,
        log_json=False,
        pricing={"lake": tmp_path / "lake", "challenger_enabled": False, "timeout_ms": 75},
        whatsapp={"graph_url": "http://127.0.0.1:9000/v23.0", "send_burst": 5},
    )
    environ = {"SSMAS_PRICING_RETRAIN_WINDOW_DAYS": "9", "SSMAS_LLM_BASE_URL": "http://x"}
    export_environment(original, {"PROMETHEUS_MULTIPROC_DIR": "/m"}, environ=environ)
    assert environ["SSMAS_PRICING_TIMEOUT_MS"] == "75.0"
    assert environ["SSMAS_PRICING_CHALLENGER_ENABLED"] == "false"
    assert environ["SSMAS_PRICING_RETRAIN_WINDOW_DAYS"] == "2"  # the stale value is replaced
    assert environ["SSMAS_WHATSAPP_GRAPH_URL"] == "http://127.0.0.1:9000/v23.0"
    assert "SSMAS_LLM_BASE_URL" not in environ  # unset settings clear their variable
    assert environ["PROMETHEUS_MULTIPROC_DIR"] == "/m"
    for key in [k for k in os.environ if k.startswith("SSMAS_")]:
        monkeypatch.delenv(key)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert Settings(_env_file=None) == original  # type: ignore[call-arg]


def test_every_setting_has_a_description() -> None:
    sections = [Settings, *(type(getattr(Settings(), name)) for name in SECTIONS)]
    missing = [
        f"{model.__name__}.{name}"
        for model in sections
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert missing == []


def test_the_settings_reference_is_up_to_date() -> None:
    page = (Path(__file__).parents[2] / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [name for name in settings_environment(Settings()) if f"`{name}`" not in page]
    assert missing == [], f"not in docs/settings.md; run `{REFERENCE_COMMAND}`"
    assert page == settings_reference(), f"docs/settings.md is stale; run `{REFERENCE_COMMAND}`"


def test_the_reference_lists_types_defaults_and_bounds() -> None:
    page = settings_reference()
    assert "| `SSMAS_PROFILE` | `dev` or `test` or `prod` | `dev` |" in page
    assert "| `SSMAS_PRICING_TIMEOUT_MS` | float (> 0, <= 60000) | `50` |" in page
    assert "| `SSMAS_WHATSAPP_SEND_BURST` | int, optional (>= 1) | unset |" in page
    assert "## Pricing (`settings.pricing`)" in page
    assert "&lt;data_dir>/lake" in page  # not an HTML tag to a Markdown renderer


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
    "verify_token": "verify-8c1d7e-4b2a-9f31-c0de-5e6f7a8b9c0d",
    "access_token": "EAAG-real-token",
}
PROD = {
    "profile": "prod",
    "secret_key": "kV3q-9xLmT2pRw7ZsN4bYc8HdJ0fGu6E",
    "pii_key": "q3Ll1ZJd1kYgqJH2d3mR5nF2b7c8K9sT0uVwXyZaBcE=",
}


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


# Distinctive tails: none of these may appear in any refusal.
LEAKY = {
    "secret_key": "short-but-memorable-TAILSK",
    "app_secret": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-TAILAS",
    "verify_token": "tok-TAILVT",
    "pii_key": "not-a-fernet-key-TAILPK",
}


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"secret_key": LEAKY["secret_key"]}, "SSMAS_SECRET_KEY"),
        ({"secret_key": "x" * 64}, "SSMAS_SECRET_KEY"),
        ({"secret_key": "ab" * 32}, "SSMAS_SECRET_KEY"),
        ({"whatsapp": {**REAL_WHATSAPP, "app_secret": LEAKY["app_secret"]}}, "APP_SECRET"),
        ({"whatsapp": {**REAL_WHATSAPP, "verify_token": LEAKY["verify_token"]}}, "VERIFY_TOKEN"),
        ({"pii_key": LEAKY["pii_key"]}, "SSMAS_PII_KEY"),
    ],
)
def test_weak_secrets_are_refused_in_prod_by_name_never_by_value(
    values: dict[str, object], named: str
) -> None:
    chosen = {**PROD, "whatsapp": REAL_WHATSAPP, **values}
    with pytest.raises(ValidationError) as raw:
        Settings(**chosen)  # type: ignore[arg-type]
    with pytest.raises(SettingsError) as one_line:
        load_settings(_env_file=None, **chosen)
    for text in (str(raw.value), repr(raw.value), str(one_line.value)):
        assert named in text
        for secret in (*LEAKY.values(), PROD["secret_key"], *REAL_WHATSAPP.values()):
            for tail in (secret[-6:], secret[:8]):
                assert tail not in text, (tail, text)


def test_a_secret_field_that_fails_validation_is_named_without_its_value() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, profile="test", secret_key=["secret-TAILLIST"])
    assert "SSMAS_SECRET_KEY" in str(caught.value)
    assert "TAILLIST" not in str(caught.value)


def test_strong_secrets_pass_in_prod() -> None:
    import secrets

    from cryptography.fernet import Fernet

    for key in (
        secrets.token_urlsafe(32),
        secrets.token_hex(32),
        "correct-horse-battery-staple-42!",
    ):
        s = Settings(
            profile="prod",
            secret_key=key,
            pii_key=Fernet.generate_key().decode(),
            whatsapp=REAL_WHATSAPP,  # type: ignore[arg-type]
        )
        assert s.secret_key == key


def test_a_placeholder_refusal_does_not_print_the_other_secrets() -> None:
    """pydantic's own report used to end with the input, so the tail of every secret."""
    with pytest.raises(ValidationError) as caught:
        Settings(profile="prod", secret_key=PROD["secret_key"], whatsapp=REAL_WHATSAPP)  # type: ignore[arg-type]
    assert "SSMAS_PII_KEY" in str(caught.value)
    for secret in (PROD["secret_key"], *REAL_WHATSAPP.values()):
        assert secret[-6:] not in str(caught.value)
