"""Pricing alerts: one notification per change of level, repeats after a while, resolve once."""

from __future__ import annotations

from ssmas.core.notify import Notification, NotifyError
from ssmas.pricing.lifecycle.alerts import PricingAlerts
from ssmas.settings import PricingSettings


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self.fail = False

    def send(self, notification: Notification) -> None:
        if self.fail:
            raise NotifyError("down", target="test")
        self.sent.append(notification)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _alerts() -> tuple[PricingAlerts, Recorder, Clock]:
    recorder, clock = Recorder(), Clock()
    return PricingAlerts(recorder, repeat_s=600.0, clock=clock), recorder, clock


def test_drift_alerts_are_deduplicated_escalated_and_resolved() -> None:
    alerts, recorder, clock = _alerts()
    assert not alerts.drift("OK", 0.1, model_version="1", n_rows=500)
    assert alerts.drift("WARNING", 0.55, model_version="1", n_rows=500)
    for _ in range(5):
        assert not alerts.drift("WARNING", 0.56, model_version="1", n_rows=500)
    assert alerts.drift("CRITICAL", 0.8, model_version="1", n_rows=500)
    clock.now = 700.0
    assert alerts.drift("CRITICAL", 0.8, model_version="1", n_rows=500)  # still on: reminder
    assert alerts.open_alerts() == {"pricing-drift": "critical"}
    assert alerts.drift("INFO", 0.35, model_version="1", n_rows=500)
    assert not alerts.drift("OK", 0.1, model_version="1", n_rows=500)
    assert [(n.severity, n.resolved) for n in recorder.sent] == [
        ("warning", False),
        ("critical", False),
        ("critical", False),
        ("critical", True),
    ]
    assert {n.dedup_key for n in recorder.sent} == {"pricing-drift"}
    assert all(n.source == "ssmas.pricing" for n in recorder.sent)


def test_latency_and_error_rate_thresholds() -> None:
    alerts, recorder, _ = _alerts()
    assert not alerts.latency(10.0, requests=1000)
    assert alerts.latency(60.0, requests=1000)
    assert alerts.latency(120.0, requests=1000)  # escalates to critical
    assert not alerts.errors(0, 0)
    assert not alerts.errors(5, 1000)
    assert alerts.errors(20, 1000)
    assert alerts.errors(0, 1000)  # resolved
    assert [(n.dedup_key, n.severity, n.resolved) for n in recorder.sent] == [
        ("pricing-latency", "warning", False),
        ("pricing-latency", "critical", False),
        ("pricing-errors", "warning", False),
        ("pricing-errors", "warning", True),
    ]


def test_a_failing_receiver_never_raises() -> None:
    alerts, recorder, _ = _alerts()
    recorder.fail = True
    assert not alerts.event("pricing-promotion-1", "promoted")
    assert alerts.sent == 0


def test_settings_build_the_core_notifier() -> None:
    settings = PricingSettings(alert_urls=["log://"], alert_latency_p99_ms=5.0)
    alerts = PricingAlerts.from_settings(settings)
    assert alerts.latency_p99_ms == 5.0
    assert alerts.event("k", "a promotion")
