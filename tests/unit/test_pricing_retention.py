"""Retention knobs of the serving side: validated, never shorter than the drift window, and the
cutoffs (and the pruner's demo limit) they lead to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from ssmas.core.db import make_engine
from ssmas.pricing.lifecycle.monitoring import Pruner
from ssmas.pricing.serving import store
from ssmas.settings import PricingSettings, Settings

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture()
def engine() -> Iterator[sa.Engine]:
    engine = make_engine("sqlite://")
    yield engine
    engine.dispose()


def test_defaults_keep_a_week_of_traffic_and_ninety_days_of_drift_reports() -> None:
    config = PricingSettings()
    assert config.retention_hours == 168.0
    assert config.drift_report_retention_hours == 90 * 24.0
    assert config.prune_interval_s == 600.0


@pytest.mark.parametrize(
    "values",
    [
        {"retention_hours": -1.0},
        {"retention_hours": float("nan")},
        {"retention_hours": float("inf")},
        {"drift_report_retention_hours": -0.5},
        {"prune_interval_s": -10.0},
    ],
)
def test_bad_retention_values_are_refused(values: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        PricingSettings(**values)


def test_a_retention_shorter_than_the_drift_window_is_refused_with_both_settings_named() -> None:
    with pytest.raises(ValidationError) as caught:
        PricingSettings(retention_hours=0.5)
    message = str(caught.value)
    assert "SSMAS_PRICING_RETENTION_HOURS=0.5" in message
    assert "SSMAS_PRICING_DRIFT_WINDOW_S=3600" in message and "keep at least 1 h" in message
    with pytest.raises(ValidationError, match="keep at least 3 h"):
        PricingSettings(retention_hours=2.0, drift_window_s=3 * 3600.0)


def test_a_retention_equal_to_the_window_or_zero_is_accepted() -> None:
    assert PricingSettings(retention_hours=1.0).retention_hours == 1.0
    forever = PricingSettings(retention_hours=0.0, drift_window_s=7 * 86_400.0)
    assert forever.retention_hours == 0.0


def test_retention_comes_from_the_environment_and_is_checked_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSMAS_PRICING_RETENTION_HOURS", "12")
    monkeypatch.setenv("SSMAS_PRICING_DRIFT_REPORT_RETENTION_HOURS", "0")
    config = Settings(profile="test").pricing
    assert (config.retention_hours, config.drift_report_retention_hours) == (12.0, 0.0)
    assert "retention_hours" in config.model_fields_set  # what the demo's bound looks at
    assert "retention_hours" not in PricingSettings().model_fields_set
    monkeypatch.setenv("SSMAS_PRICING_RETENTION_HOURS", "0.25")
    with pytest.raises(ValidationError, match="drift window"):
        Settings(profile="test")


def test_cutoffs_per_table_and_zero_keeps_forever() -> None:
    both = store.retention_cutoffs(NOW, 168.0, 2160.0)
    assert {t.name: c for t, c in both.items()} == {
        "pricing_captures": NOW - timedelta(days=7),
        "pricing_floor_decisions": NOW - timedelta(days=7),
        "pricing_outcomes": NOW - timedelta(days=7),
        "pricing_drift_reports": NOW - timedelta(days=90),
    }
    assert store.retention_cutoffs(NOW, 0.0, 0.0) == {}
    only_reports = store.retention_cutoffs(NOW, 0.0, 24.0)
    assert list(only_reports) == [store.drift_reports]
    assert [t.name for t in store.retention_cutoffs(NOW, 2.0, 0.0)] == [
        "pricing_captures",
        "pricing_floor_decisions",
        "pricing_outcomes",
    ]


def test_every_pruned_table_is_stamped_by_an_indexed_column() -> None:
    for name, column in store.STAMPS.items():
        assert column.table.name == name
        assert column.index, f"{name}.{column.name} is not indexed: prune would scan the table"


def test_prune_refuses_an_empty_chunk(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="at least 1 row"):
        store.prune(engine, {}, chunk=0)


def test_pruner_cutoffs_follow_its_clock_and_config(engine: sa.Engine) -> None:
    pruner = Pruner(engine, PricingSettings(retention_hours=6.0), clock=lambda: NOW)
    cutoffs = {t.name: c for t, c in pruner.cutoffs().items()}
    assert cutoffs["pricing_outcomes"] == NOW - timedelta(hours=6)
    assert cutoffs["pricing_drift_reports"] == NOW - timedelta(days=90)


def test_limit_shortens_never_lengthens_and_never_goes_below_the_window(
    engine: sa.Engine,
) -> None:
    pruner = Pruner(engine, PricingSettings())
    assert pruner.limit(2.0) == 2.0  # a week → 2 h
    assert pruner.limit(24.0) == 2.0  # a longer limit leaves the shorter retention
    assert pruner.limit(0.1) == 1.0  # clamped to the 1 h drift window
    forever = Pruner(engine, PricingSettings(retention_hours=0.0, drift_window_s=7200.0))
    assert forever.limit(1.0) == 2.0  # keep-forever gets bounded, at the window
