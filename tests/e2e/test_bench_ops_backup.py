"""The backup benchmark's DR drill runs end to end in its quick form on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
@pytest.mark.postgres
def test_quick_backup_benchmark_writes_the_drill_figures() -> None:
    stdout, body = run_quick("ops_backup")
    figures = body["figures"]
    for prefix in ("", "pg_"):
        assert figures[f"{prefix}dr_integrity_ok"] is True
        assert all(figures[f"{prefix}dr_checks"].values())
        assert figures[f"{prefix}rto_s"] > 0 and figures[f"{prefix}rpo_s"] >= 0
        assert figures[f"{prefix}dr_rows_written_under_load"] > 0
    assert figures["backup_interval_s"] == 3.0
    assert "rto_s" in stdout and "pg_rpo_s" in stdout
