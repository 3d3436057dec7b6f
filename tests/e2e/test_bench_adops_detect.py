"""The AdOps detection benchmark runs end to end in its quick form and writes its figures."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
def test_quick_adops_detect_benchmark_writes_its_figures() -> None:
    stdout, body = run_quick("adops_detect")
    figures = body["figures"]
    assert figures["files"] == 4  # one file per family
    for key in ("nab_standard", "nab_low_fp", "nab_low_fn"):
        assert 0 < figures[key] <= 100, key
    # the profiles weigh the same detections: fewer FP allowed scores lower, more FN higher
    assert figures["nab_low_fp"] <= figures["nab_standard"] <= figures["nab_low_fn"]
    assert figures["null_standard"] == 0.0
    assert figures["ingest_points_per_s"] > 0
    assert "detector alone" in stdout and "Windowed Gaussian" in stdout
