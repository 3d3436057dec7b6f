"""Rotating the PII key while a real server serves PII traffic: no request fails, nothing is
left under the old key, and the old key is retired with the platform still reading everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pii_rotation_support import run_drill


@pytest.mark.slow
def test_rotation_under_traffic_fails_no_request_and_leaves_nothing_under_the_old_key(
    tmp_path: Path,
) -> None:
    result = run_drill(tmp_path / "data", conversations=120, messages_per=4, leads=200)
    assert result.failed == 0, result.failures
    assert result.reads_during > 0 and result.writes_during > 0  # traffic ran through it
    assert result.rows == 120 * 2 + 120 * 4 + 200 * 2
    assert result.rewritten >= result.rows  # every seeded ciphertext, plus late writes
    # Key 1 is retired: every ciphertext, old rows and the replies written meanwhile, is k2.
    assert set(result.usage_after) == {2}
    assert result.usage_after[2] > result.rows
