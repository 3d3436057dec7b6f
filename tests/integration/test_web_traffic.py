"""The traffic window against a real Prometheus registry and histogram."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram

from ssmas.web.traffic import TrafficSampler, histogram_totals

NAME = "ssmas_api_request_duration_seconds"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(NAME, "test latency", ["route"], registry=registry)


def test_totals_sum_every_label_set() -> None:
    registry = CollectorRegistry()
    assert histogram_totals(registry, NAME) is None
    latency = make_histogram(registry)
    latency.labels("/a").observe(0.25)
    latency.labels("/b").observe(0.5)
    latency.labels("/b").observe(0.25)
    assert histogram_totals(registry, NAME) == (3.0, 1.0)


def test_consecutive_samples_give_rate_and_mean_latency() -> None:
    registry, clock = CollectorRegistry(), Clock()
    latency = make_histogram(registry)
    sampler = TrafficSampler(registry, clock=clock)
    sampler.sample()
    for _ in range(4):
        latency.labels("/x").observe(0.002)
    clock.now += 2.0
    sampler.sample()
    clock.now += 2.0
    sampler.sample()  # an idle interval: zero rate, no latency
    feed = sampler.feed()
    assert feed["available"] is True
    assert feed["t"] == [102.0, 104.0]
    assert feed["rps"] == [2.0, 0.0]
    assert feed["latency_ms"][0] == pytest.approx(2.0)
    assert feed["latency_ms"][1] is None


def test_close_samples_are_skipped_and_the_window_is_bounded() -> None:
    registry, clock = CollectorRegistry(), Clock()
    latency = make_histogram(registry)
    sampler = TrafficSampler(registry, capacity=3, min_interval_s=1.0, clock=clock)
    for _ in range(10):
        latency.labels("/x").observe(0.01)
        clock.now += 0.4
        sampler.sample()
    # only samples at least 1 s apart count: t = 100.4, 101.6, 102.8, 104.0
    assert sampler.feed()["t"] == [101.6, 102.8, 104.0]


def test_a_reset_registry_restarts_the_series_and_a_missing_metric_is_reported() -> None:
    registry, clock = CollectorRegistry(), Clock()
    latency = make_histogram(registry)
    latency.labels("/x").observe(1.0)
    sampler = TrafficSampler(registry, clock=clock)
    sampler.sample()
    registry.unregister(latency)
    clock.now += 5
    sampler.sample()
    assert sampler.feed() == {"available": False, "t": [], "rps": [], "latency_ms": []}
    fresh = make_histogram(registry)  # a restart: totals go back to zero
    clock.now += 5
    sampler.sample()
    fresh.labels("/x").observe(0.5)
    clock.now += 5
    sampler.sample()
    feed = sampler.feed()
    assert feed["available"] is True
    assert feed["rps"] == [pytest.approx(0.2)]
