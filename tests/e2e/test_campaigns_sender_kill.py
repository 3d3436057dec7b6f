"""SIGKILL a real sender process mid-campaign, twice: every recipient gets exactly one message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.sender_kill_support import run_kill_campaign
from tests.fakes.sms_provider import FakeSmsProvider


@pytest.mark.slow
def test_killed_senders_neither_lose_nor_repeat_a_message(tmp_path: Path) -> None:
    # Slow sends (10 ms each) keep each batch in flight long enough for the kills to land
    # between the provider accepting messages and the ledger recording them.
    with FakeSmsProvider(receipts=False, honour_idempotency=False, latency_s=0.01) as fake:
        run = run_kill_campaign(fake, tmp_path / "data", recipients=400, kills=2)
    assert run.missing == 0
    assert run.duplicates == 0
    assert set(run.handset.values()) == {1}
    assert run.taken_over > 0  # the survivors took over rows the killed senders held


@pytest.mark.slow
def test_concurrent_senders_on_postgresql_survive_kills_too(tmp_path: Path, pg_url: str) -> None:
    # Two senders at a time share the ledger (FOR UPDATE SKIP LOCKED); both are killed once.
    with FakeSmsProvider(receipts=False, honour_idempotency=False, latency_s=0.01) as fake:
        run = run_kill_campaign(
            fake, tmp_path / "data", recipients=400, kills=1, parallel=2, database_url=pg_url
        )
    assert run.missing == 0
    assert run.duplicates == 0
    assert set(run.handset.values()) == {1}
