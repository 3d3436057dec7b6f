"""A handler that raises ``RetryLater`` has its delivery given back for the delay it names (not
handed out again at once), and the worker goes on with the rest meanwhile (real SQLite bus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssmas.core.bus import Delivery, open_bus
from ssmas.core.worker import RetryLater, Subscription, WorkerStats, drain_once


class NackSpy:
    """The real bus, with its nacks' delays noted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.delays: list[float] = []

    def nack(self, delivery: Delivery, *, error: str | None = None, delay_s: float = 0.0) -> None:
        self.delays.append(delay_s)
        self.inner.nack(delivery, error=error, delay_s=delay_s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_retry_later_gives_the_delivery_back_for_its_delay(tmp_path: Path) -> None:
    bus = NackSpy(open_bus(str(tmp_path / "bus.db")))
    seen: list[int] = []

    def handle(delivery: Delivery) -> None:
        n = delivery.message.payload["n"]
        seen.append(n)
        if n == 0:
            raise RetryLater("claimed elsewhere", 60.0)
        if n == 1:
            raise RuntimeError("plain failure")

    try:
        bus.publish_batch("jobs", [{"n": 0}, {"n": 1}, {"n": 2}])
        sub = Subscription("jobs", "g", handle)
        stats = WorkerStats()
        assert drain_once(bus, [sub], "w", stats) == 1  # n=2 done
        assert bus.delays == [60.0, 0.0]  # n=0 for its delay, n=1 at once
        assert drain_once(bus, [sub], "w", stats) == 0  # n=1 again (fails again); n=0 not yet
        assert seen == [0, 1, 2, 1] and stats.failed == 3
    finally:
        bus.close()
