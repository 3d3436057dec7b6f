"""The self-healing benchmark's kill drill runs end to end in its quick form."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
def test_quick_heal_benchmark_restarts_the_killed_worker_and_loses_nothing() -> None:
    stdout, body = run_quick("ops_heal")
    figures = body["figures"]
    assert figures["worker_lost_events"] == 0 and figures["worker_duplicate_events"] == 0
    assert figures["worker_dead_letters"] == 0
    assert figures["worker_events_published"] > 0
    assert 0 < figures["worker_respawn_s"] <= figures["worker_restart_s"]
    assert figures["worker_restart_s"] <= figures["worker_resume_s"]
    assert figures["worker_kill_load_avg"] >= 0
    assert "worker_restart_s" in stdout
