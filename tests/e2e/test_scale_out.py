"""The scale-out deployment as a tested thing: ``benchmarks/scale_out.py --quick`` starts two API
hosts and two assistant workers on PostgreSQL + Redis (production profile), checks ``/ready`` on
hosts without a model, drives registry changes and signed webhooks, SIGKILLs a worker and an API
host mid-run, and reports what it found; here the counts must be exact (the timings are the
benchmark's to report, not this test's to judge). It refuses to start unless it sets every
variable the example in docs/operations.md ("Deploying on several hosts") exports."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
@pytest.mark.timeout(900)  # a deployment of ~10 processes on a shared 2-core machine
@pytest.mark.postgres
@pytest.mark.redis
def test_scale_out_deployment_loses_nothing_and_switches_models(redis_url: str) -> None:
    stdout, body = run_quick("scale_out", "--redis-url", redis_url, timeout=840)
    figures = body["figures"]
    assert figures["ready_without_model"] == [503, 503]  # no model: no traffic
    assert figures["ready_with_model"] == [200, 200]
    assert len(figures["model_switches"]) == 8  # 4 registry changes x 2 API processes
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    assert figures["out_of_order"] == 0
    assert figures["counter_errors"] == 0
    [run] = figures["runs"]
    assert run["messages"] == 120
    # a worker's own /metrics: backlog gauges per topic and group, and its acks counted
    assert run["worker_backlog_series"] >= 5 and run["worker_acked"] > 0
    assert figures["kill_recovery_s"] > 0  # replies were owed at the kill, and went out
    assert figures["retrain_leaders"] == 1  # of the two pricing workers, one retrains
    assert figures["documented_settings"] >= 10  # docs/operations.md's example, all set here
    assert figures["scaling_efficiency"] > 0 and figures["api_scaling_efficiency"] > 0
    assert "scale-out" in stdout
