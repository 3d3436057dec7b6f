"""Per-variant serving summaries stay exact when batches are counted from several threads.

The demo counts from the exchange's thread while the API counts from the event loop; the
summaries are read-modify-write sums, so an unguarded ``+=`` can lose an update when the
interpreter switches threads in the middle of one. The switch interval is shortened here so
that a missing lock shows up as wrong totals rather than once in a blue moon.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from ssmas.pricing.serving.stats import LATENCY_WINDOW, ServingStats
from ssmas.pricing.variants import Variant

THREADS = 6
ROUNDS = 300
BATCH = 40


@pytest.fixture(autouse=True)
def frequent_thread_switches() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def batch(seed: int) -> tuple[list[Variant], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A batch with every value a small multiple of 1/4, so float sums are exact in any order."""
    rng = np.random.default_rng(seed)
    variants: list[Variant] = ["challenger" if c else "champion" for c in rng.random(BATCH) < 0.3]
    points = rng.integers(1, 40, BATCH) / 4.0
    fallback = rng.random(BATCH) < 0.1
    realised = np.where(rng.random(BATCH) < 0.7, rng.integers(0, 40, BATCH) / 4.0, np.nan)
    revenue = rng.integers(0, 8, BATCH) / 4.0
    return variants, points, fallback, realised, revenue


def hammer(work: Callable[[int], None]) -> None:
    """Run ``work(thread_index)`` on THREADS threads released together; re-raise any error."""
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors


def test_concurrent_batches_are_counted_exactly() -> None:
    stats = ServingStats(remember_last=0)
    batches = [batch(seed) for seed in range(THREADS)]

    def work(index: int) -> None:
        variants, points, fallback, realised, revenue = batches[index]
        for _ in range(ROUNDS):
            stats.served_many(variants, points, fallback, 0.002)
            stats.outcomes_many(variants, points, realised, revenue)

    hammer(work)

    summary = stats.as_dict()["variants"]
    for name in ("champion", "challenger"):
        expected = dict.fromkeys(
            ("requests", "fallbacks", "predicted", "outcomes", "filled", "realised", "revenue"),
            0.0,
        )
        for variants, points, fallback, realised, revenue in batches:
            mine = np.array([v == name for v in variants])
            filled = mine & ~np.isnan(realised)
            expected["requests"] += ROUNDS * mine.sum()
            expected["fallbacks"] += ROUNDS * (mine & fallback).sum()
            expected["predicted"] += ROUNDS * points[mine].sum()
            expected["outcomes"] += ROUNDS * mine.sum()
            expected["filled"] += ROUNDS * filled.sum()
            expected["realised"] += ROUNDS * realised[filled].sum()
            expected["revenue"] += ROUNDS * revenue[mine].sum()
        raw = stats.summary[name]  # type: ignore[index]
        assert raw.requests == expected["requests"] == summary[name]["requests"]
        assert raw.fallbacks == expected["fallbacks"]
        assert raw.predicted_sum == expected["predicted"]
        assert raw.outcomes == expected["outcomes"] == summary[name]["outcomes"]
        assert raw.filled == raw.errors == expected["filled"]
        assert raw.realised_sum == raw.predicted_filled_sum + raw.error_sum == expected["realised"]
        assert raw.revenue_eur == expected["revenue"]
        # One latency per batch call that touched the variant: none lost, none overwritten.
        assert raw.latency_cursor == THREADS * ROUNDS
        assert not np.isnan(raw.latencies_ms[: min(raw.latency_cursor, LATENCY_WINDOW)]).any()


def test_single_answers_and_fallback_reasons_are_counted_exactly() -> None:
    from ssmas.pricing.serving.responses import Scored

    stats = ServingStats(remember_last=0)
    answers = [
        Scored(1.5, 1.0, 2.0, "1", "champion", False),
        Scored(2.0, 2.0, 2.0, "none", "challenger", True, "timeout"),
    ]

    def work(_index: int) -> None:
        for _ in range(ROUNDS):
            stats.served(answers, 0.001)
            stats.fallback("timeout")
            stats.outcome("champion", 1.5, 2.5, 0.25)

    hammer(work)

    calls = THREADS * ROUNDS
    champion, challenger = stats.summary["champion"], stats.summary["challenger"]
    assert (champion.requests, champion.fallbacks, champion.predicted_sum) == (
        calls,
        0,
        1.5 * calls,
    )
    assert (challenger.requests, challenger.fallbacks) == (calls, calls)
    assert champion.latency_cursor == challenger.latency_cursor == calls
    assert stats.as_dict()["fallback_reasons"] == {"timeout": calls}
    assert (champion.outcomes, champion.filled, champion.revenue_eur) == (calls, calls, calls / 4)
    assert champion.abs_error_sum == champion.error_sum == float(calls)


def test_the_dashboard_reads_a_consistent_summary_while_batches_arrive() -> None:
    """``as_dict`` never sees a request counted without its predicted CPM."""
    stats = ServingStats(remember_last=0)
    variants: list[Variant] = ["champion"] * BATCH
    points = np.full(BATCH, 2.0)
    fallback = np.zeros(BATCH, dtype=np.bool_)
    done = threading.Event()
    seen: list[float | None] = []

    def read() -> None:
        while not done.is_set():
            seen.append(stats.as_dict()["variants"]["champion"]["mean_predicted_cpm"])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(ROUNDS * 3):
            stats.served_many(variants, points, fallback, 0.001)
    finally:
        done.set()
        reader.join(30)
    assert seen and set(seen) <= {None, 2.0}
    assert stats.summary["champion"].requests == ROUNDS * 3 * BATCH
