"""The ops benchmark's alert drill runs end to end in its quick form and writes its figures."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick

RECEIVERS = {"slack", "webhook", "pagerduty", "email"}


@pytest.mark.slow
def test_quick_ops_benchmark_writes_the_alert_figures() -> None:
    stdout, body = run_quick("ops")
    figures = body["figures"]
    assert figures["alert_fire_s"] > 0 and figures["alert_fire_budget_s"] == 2.0
    assert figures["alert_fire_from_fault_s"] > figures["alert_fire_s"]
    assert figures["alert_notifications"] == dict.fromkeys(RECEIVERS, 1)
    assert figures["alert_resolutions"] == dict.fromkeys(RECEIVERS, 1)
    assert figures["alert_other_alerts"] == []
    assert figures["absence_alert_s"] > 0
    assert figures["absence_notifications"] == dict.fromkeys(RECEIVERS, 1)
    assert "alert_fire_s" in stdout and "pagerduty" in stdout
