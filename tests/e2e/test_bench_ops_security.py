"""The key-rotation benchmark runs end to end in its quick form, with no failed request."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
def test_quick_rotation_benchmark_fails_no_request() -> None:
    stdout, body = run_quick("ops_security")
    figures = body["figures"]
    assert figures["key_rotation_failed_requests"] == 0
    assert figures["key_rotation_left_under_old_key"] == 0
    assert figures["key_rotation_rewritten"] >= figures["key_rotation_rows"] > 0
    assert figures["key_rotation_requests"] > 0
    assert "key_rotation_s" in stdout
