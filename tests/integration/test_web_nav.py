"""The page registry behind the sidebar and the settings summary on the platform page."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssmas.settings import Settings
from ssmas.web.nav import GROUPS, NavRegistry, UnknownGroupError, get_group
from ssmas.web.overview import redact_url, settings_summary


def test_groups_are_the_six_products_in_order() -> None:
    assert [g.label for g in GROUPS] == [
        "Platform",
        "Pricing",
        "AdOps",
        "Assistant",
        "Campaigns",
        "Ops",
    ]
    assert get_group("platform") is not None and get_group("platform").path == "/dashboard"  # type: ignore[union-attr]
    assert get_group("ops").path == "/dashboard/ops"  # type: ignore[union-attr]
    assert get_group("billing") is None


def test_registry_keeps_order_and_updates_a_path_in_place() -> None:
    nav = NavRegistry()
    nav.register("pricing", "Floors", "/dashboard/pricing/floors")
    nav.register("pricing", "Drift", "/dashboard/pricing/drift")
    nav.register("pricing", " Floor prices ", "/dashboard/pricing/floors")
    assert [(p.title, p.path) for p in nav.pages("pricing")] == [
        ("Floor prices", "/dashboard/pricing/floors"),
        ("Drift", "/dashboard/pricing/drift"),
    ]
    assert nav.pages("adops") == []
    nav.unregister("/dashboard/pricing/drift")
    assert len(nav.pages("pricing")) == 1


def test_registry_refuses_bad_pages() -> None:
    nav = NavRegistry()
    with pytest.raises(UnknownGroupError, match="expected one of"):
        nav.register("billing", "Invoices", "/dashboard/billing")
    with pytest.raises(ValueError, match="title"):
        nav.register("ops", "  ", "/dashboard/ops/x")
    with pytest.raises(ValueError, match="start with"):
        nav.register("ops", "Backups", "https://elsewhere.example/")


def test_redact_url_hides_passwords_and_queries() -> None:
    assert redact_url("postgresql+psycopg://app:pw@db:5432/x?sslkey=k") == (
        "postgresql+psycopg://app:***@db:5432/x"
    )
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redact_url(None) == "—"


def test_settings_summary_never_contains_secrets(tmp_path: Path) -> None:
    settings = Settings(
        profile="test",
        data_dir=tmp_path,
        secret_key="summary-secret-1",
        pii_key="summary-pii-2",
        llm_api_key="summary-llm-3",
        llm_base_url="https://llm.internal/v1?token=summary-token-4",
        database_url="postgresql+psycopg://u:summary-pw-5@db/ssmas",
    )
    text = repr(settings_summary(settings))
    for secret in [
        "summary-secret-1",
        "summary-pii-2",
        "summary-llm-3",
        "summary-token-4",
        "summary-pw-5",
    ]:
        assert secret not in text
    assert "PII encryption" in text and "configured" in text
