"""Metric constructors enforce ``ssmas_<product>_<thing>_<unit>`` and are idempotent."""

from __future__ import annotations

import pytest
from prometheus_client import Counter, Gauge, Histogram

from ssmas.core import metrics


def test_names_follow_the_house_pattern() -> None:
    assert (
        metrics.metric_name("pricing", "predictions", "total") == "ssmas_pricing_predictions_total"
    )
    assert metrics.metric_name("api", "request_duration", "seconds") == (
        "ssmas_api_request_duration_seconds"
    )


@pytest.mark.parametrize(
    ("product", "thing", "unit"),
    [
        ("Pricing", "predictions", "total"),
        ("ad_ops", "incidents", "total"),
        ("pricing", "Predictions", "total"),
        ("pricing", "latency_", "seconds"),
        ("pricing", "a__b", "seconds"),
        ("pricing", "latency", "ms"),
        ("pricing", "latency_seconds", "seconds"),
        ("", "x", "total"),
    ],
)
def test_bad_names_are_refused(product: str, thing: str, unit: str) -> None:
    with pytest.raises(ValueError):
        metrics.metric_name(product, thing, unit)


def test_constructors_are_idempotent_and_typed() -> None:
    first = metrics.counter("testmetrics", "widgets", "widgets made", labels=("kind",))
    again = metrics.counter("testmetrics", "widgets", "widgets made", labels=("kind",))
    assert first is again and isinstance(first, Counter)
    depth = metrics.gauge("testmetrics", "queue_depth", "count", "items waiting")
    assert isinstance(depth, Gauge)
    latency = metrics.histogram("testmetrics", "step", "step latency", buckets=(0.1, 1.0))
    assert isinstance(latency, Histogram)

    first.labels("round").inc(3)
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    assert b'ssmas_testmetrics_widgets_total{kind="round"} 3.0' in body
    assert b"ssmas_testmetrics_step_seconds_bucket" in body


def test_conflicting_redefinition_is_refused() -> None:
    metrics.counter("testmetrics", "conflict", "first", labels=("a",))
    with pytest.raises(ValueError, match="another kind or labels"):
        metrics.counter("testmetrics", "conflict", "second", labels=("b",))
    with pytest.raises(ValueError):
        metrics.gauge("testmetrics", "level", "total", "a gauge is not a total")
    with pytest.raises(ValueError, match="label"):
        metrics.counter("testmetrics", "labelled", "bad label", labels=("Bad-Label",))


def test_api_request_metrics_are_registered() -> None:
    from ssmas.core.api import middleware

    assert middleware.REQUESTS._name == "ssmas_api_requests"
    assert middleware.DURATION._name == "ssmas_api_request_duration_seconds"
    body, _ = metrics.render()
    assert b"# TYPE ssmas_api_requests_total counter" in body
