"""Charts and tables: numbers as a person reads them, and gaps in time series left as gaps."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram

from ssmas.core.registry import ModelVersionInfo
from ssmas.web.charts import break_gaps, format_number
from ssmas.web.traffic import TrafficSampler


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (160322.4, "160,322"),
        (160322, "160,322"),
        (1_234_567_890, "1,234,567,890"),
        (-2500.4, "-2,500"),
        (999.96, "1,000"),
        (0.803412, "0.8034"),
        (12.3456, "12.35"),
        (1.5, "1.5"),
        (42, "42"),
        (0, "0"),
        (0.000123456, "0.0001235"),
        (None, "—"),
        (math.nan, "—"),
    ],
)
def test_format_number_reads_like_a_person_writes(value: float | None, text: str) -> None:
    assert format_number(value) == text


def test_no_scientific_notation_for_ordinary_magnitudes() -> None:
    for exponent in range(-6, 15):
        for mantissa in (1.0, 1.603, 9.99):
            assert "e" not in format_number(mantissa * 10.0**exponent), (mantissa, exponent)
    assert format_number(2e15) == "2.000e+15"  # extraordinary ones keep it


def test_break_gaps_puts_a_null_row_where_a_step_is_too_long() -> None:
    t, (a, b) = break_gaps([0, 5, 10, 15, 100, 105], [[1, 2, 3, 4, 5, 6], [1, None, 3, 4, 5, 6]])
    assert a == [1, 2, 3, 4, None, 5, 6]
    assert b == [1, None, 3, 4, None, 5, 6]
    assert t[:4] == [0, 5, 10, 15] and t[5:] == [100, 105]
    assert 15 < t[4] < 100


def test_break_gaps_leaves_regular_and_short_series_alone() -> None:
    assert break_gaps([0, 5, 10, 16], [[1, 2, 3, 4]]) == ([0, 5, 10, 16], [[1, 2, 3, 4]])
    assert break_gaps([0, 500], [[1, 2]]) == ([0, 500], [[1, 2]])  # no usual step to compare
    assert break_gaps([0, 5, 100], [[1, 2, 3]], max_step=10)[1] == [[1, 2, None, 3]]
    with pytest.raises(ValueError, match="one value per time"):
        break_gaps([0, 1], [[1]])


def test_the_traffic_feed_has_a_null_row_where_nobody_watched() -> None:
    registry = CollectorRegistry()
    latency = Histogram("ssmas_api_request_duration_seconds", "t", ["route"], registry=registry)
    now = [100.0]
    sampler = TrafficSampler(registry, clock=lambda: now[0])
    for step in (0, 5, 5, 5, 5, 600, 5):  # the page was closed for ten minutes
        now[0] += step
        latency.labels("/x").observe(0.01)
        sampler.sample()
    feed = sampler.feed()
    assert feed["rps"][:3] == [0.2, 0.2, 0.2]
    gap = feed["rps"].index(None)
    assert feed["latency_ms"][gap] is None
    assert feed["t"][gap - 1] == 120.0 and feed["t"][gap + 1] == 720.0
    assert feed["t"] == sorted(feed["t"])
    assert feed["rps"].count(None) == 1


def test_the_drift_feed_breaks_where_the_monitor_did_not_run() -> None:
    from ssmas.pricing.web import drift_feed

    stamps = ["00:00", "00:05", "00:10", "00:15", "03:00", "03:05"]
    timeline = [
        {
            "computed_at": f"2026-01-01T{hhmm}:00+00:00",
            "score": 0.1 * i,
            "level": "OK",
            "features": {"format": 0.2},
        }
        for i, hhmm in enumerate(stamps)
    ]
    feed = drift_feed(timeline)
    assert feed["score"][4] is None and feed["levels"][4] is None
    assert feed["features"]["format"] == [0.2, 0.2, 0.2, 0.2, None, 0.2, 0.2]
    assert len(feed["t"]) == 7


def test_the_models_table_shows_row_counts_with_separators() -> None:
    from ssmas.pricing.web import _html, _serving

    version = ModelVersionInfo(
        name="pricing-cpm",
        version=1,
        run_id="r",
        metrics={"train_rows": 160322.0, "valid_rmse": 0.803412},
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    page = str(
        _html(
            "pricing_models.html",
            serving=_serving(None),
            versions=[version],
            metric_names=["train_rows", "valid_rmse"],
            model_name="pricing-cpm",
        )
    )
    assert "<td>160,322</td>" in page and "<td>0.8034</td>" in page
    assert "e+05" not in page


def test_the_floor_simulation_plot_labels_revenue_with_separators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.pyplot as plt

    from ssmas.pricing.floors.simulation import PolicyResult
    from ssmas.pricing.floors.simulation_report import write_plot
    from tests.integration.pricing_support import floorsim_report

    report = floorsim_report(
        policies={
            "none": PolicyResult("none", "no floor", 160_100.0, 0.9, 8.1, 0.0),
            "static": PolicyResult("static", "0.80 EUR", 160_322.0, 0.85, 8.9, 0.8, 0.0),
        },
        # a narrow range of large values: matplotlib's default would print an offset (+1.6e5)
        static_curve=[(0.0, 160_100.0), (0.8, 160_322.0), (2.0, 160_050.0)],
    )
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig) or close(fig))
    assert write_plot(report, tmp_path / "plot.png").exists()
    left, right = figures[0].axes
    for axis in (left.yaxis, right.yaxis):
        formatter = axis.get_major_formatter()
        assert formatter(160322.4, 0) == "160,322"
        assert all("e" not in formatter(tick, 0) for tick in axis.get_ticklocs())
