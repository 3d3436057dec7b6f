"""The page-load benchmark runs end to end in its quick form: every page loads, figures written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's Chromium is absent")
def test_quick_page_benchmark_loads_every_page() -> None:
    stdout, body = run_quick("ops_pages", timeout=900)
    figures = body["figures"]
    assert figures["page_load_failed_pages"] == []
    assert figures["page_load_pages"] >= 25
    for path in ("/dashboard/ops/backups", "/dashboard/ops/audit", "/dashboard/campaigns/tenants"):
        assert figures["page_load_ms"][path]["status"] == [200]
    assert figures["page_rows"]["audit_log"] == figures["page_load_rows_behind_each"] == 1000
    assert figures["page_load_max_ms"] == max(p["max_ms"] for p in figures["page_load_ms"].values())
    assert "page_load_max_ms" in stdout
