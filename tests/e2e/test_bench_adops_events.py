"""The AdOps event rules benchmark runs end to end in its quick form and writes its figures."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
def test_quick_adops_events_benchmark_writes_its_figures() -> None:
    stdout, body = run_quick("adops_events")
    figures = body["figures"]
    assert figures["events"] > 5000  # two simulated hours of 51 entities' metric points
    assert figures["archived"] == figures["events"] == figures["replay_events"]
    assert figures["replay_delivered"] == figures["matches"] > 0
    for key in ("rules_match_per_s", "rules_events_per_s", "replay_day_s"):
        assert figures[key] > 0, key
    assert "AdOps event rules" in stdout
