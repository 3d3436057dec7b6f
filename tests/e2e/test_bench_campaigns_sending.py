"""The campaign sending benchmark runs in its quick form: a rate through the fake provider, and
no message lost or repeated across killed senders."""

from __future__ import annotations

import pytest

from tests.e2e.bench_support import run_quick


@pytest.mark.slow
def test_quick_run_writes_the_sending_figures() -> None:
    stdout, body = run_quick("campaigns_sending")
    figures = body["figures"]
    assert figures["sends_per_s"] > 0
    assert figures["duplicate_sends"] == 0 and figures["missing_sends"] == 0
    assert figures["kills"] == 2 and figures["rows_taken_over"] > 0
    assert "QUICK" in body["notes"] and "duplicate_sends=0" in stdout
