"""The live-experiments benchmark runs in its quick form: experiments of one tenant assigned,
fed and looked at through ``ssmas.campaigns.live``, with the load average beside the times."""

from __future__ import annotations

from tests.e2e.bench_support import run_quick


def test_quick_run_writes_the_live_experiment_figures() -> None:
    stdout, body = run_quick("campaigns_experiments_live")
    figures = body["figures"]
    assert figures["experiments_running"] == 12 and figures["experiment_units_each"] == 500
    for key in ("experiment_assign_ms", "experiment_outcomes_ms", "experiment_results_ms"):
        assert figures[key] > 0
    assert figures["experiment_results_p99_ms"] >= figures["experiment_results_ms"]
    assert 0 <= figures["auto_concluded"] <= 12
    assert figures["experiments_load_avg_before"] >= 0
    assert "experiments running at once" in stdout
