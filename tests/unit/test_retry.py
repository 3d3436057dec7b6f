"""ssmas.core.retry: backoff with full jitter, stop rules, Retry-After, sync and async, HTTP."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from ssmas.core.retry import (
    Attempt,
    Retrier,
    Retry,
    RetryPolicy,
    http_verdict,
    is_retryable_status,
    retry_after_seconds,
)


class FakeTime:
    """A clock that only moves when something sleeps: deterministic elapsed-time rules."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def scripted(*outcomes: object) -> Callable[[], object]:
    """An operation returning (or raising, for exceptions) each outcome in turn."""
    items: Iterator[object] = iter(outcomes)

    def operation() -> object:
        item = next(items)
        if isinstance(item, Exception):
            raise item
        return item

    return operation


def retry_errors(attempt: Attempt[object]) -> Retry | None:
    return Retry() if isinstance(attempt.error, ConnectionError) else None


def retrier(policy: RetryPolicy, fake: FakeTime, seed: int = 7) -> Retrier:
    return Retrier(
        policy,
        sleep=fake.sleep,
        async_sleep=fake.async_sleep,
        rng=random.Random(seed),
        clock=fake.clock,
    )


def test_full_jitter_draws_under_a_doubling_capped_ceiling() -> None:
    fake = FakeTime()
    policy = RetryPolicy(max_attempts=6, base_s=1.0, cap_s=4.0)
    operation = scripted(*[ConnectionError("down")] * 5, "ok")
    assert retrier(policy, fake).call(operation, retry_errors) == "ok"
    rng = random.Random(7)
    assert fake.sleeps == [rng.uniform(0, ceiling) for ceiling in (1.0, 2.0, 4.0, 4.0, 4.0)]
    assert [policy.ceiling(n) for n in range(5)] == [1.0, 2.0, 4.0, 4.0, 4.0]


def test_gives_up_after_max_attempts_with_the_last_error_unchanged() -> None:
    fake = FakeTime()
    last = ConnectionError("third")
    operation = scripted(ConnectionError("first"), ConnectionError("second"), last)
    final = retrier(RetryPolicy(max_attempts=3), fake).run(operation, retry_errors)
    assert final.number == 3 and final.stopped == "attempts" and final.error is last
    with pytest.raises(ConnectionError, match="third"):
        final.unwrap()
    assert len(fake.sleeps) == 2


def test_a_final_outcome_is_not_retried() -> None:
    fake = FakeTime()
    with pytest.raises(ValueError, match="bad input"):
        retrier(RetryPolicy(), fake).call(scripted(ValueError("bad input"), "never"), retry_errors)
    assert fake.sleeps == []
    final = retrier(RetryPolicy(), fake).run(scripted("fine"), retry_errors)
    assert (final.result, final.number, final.stopped) == ("fine", 1, "done")


def test_results_can_ask_for_a_retry_and_the_last_one_is_returned() -> None:
    fake = FakeTime()

    def busy(attempt: Attempt[object]) -> Retry | None:
        return Retry() if attempt.result == 503 else None

    final = retrier(RetryPolicy(max_attempts=2), fake).run(scripted(503, 503, 200), busy)
    assert (final.result, final.stopped, final.number) == (503, "attempts", 2)


def test_retry_after_is_waited_exactly_and_a_long_one_gives_up_at_once() -> None:
    fake = FakeTime()
    policy = RetryPolicy(max_attempts=5, max_retry_after_s=30.0)

    def server(attempt: Attempt[object]) -> Retry | None:
        return Retry(after_s=float(str(attempt.result))) if attempt.result != "ok" else None

    assert retrier(policy, fake).call(scripted("7", "0", "ok"), server) == "ok"
    assert fake.sleeps == [7.0, 0.0]
    final = retrier(policy, fake).run(scripted("3600", "ok"), server)
    assert (final.stopped, final.retry_after_s, final.number) == ("retry_after", 3600.0, 1)
    assert fake.sleeps == [7.0, 0.0]  # no further sleep


def test_a_verdict_can_set_its_own_backoff_base() -> None:
    fake = FakeTime()

    def slow(attempt: Attempt[object]) -> Retry | None:
        return Retry(base_s=10.0) if attempt.error is not None else None

    policy = RetryPolicy(max_attempts=3, base_s=0.1, cap_s=60.0)
    retrier(policy, fake).call(scripted(ConnectionError(), ConnectionError(), "ok"), slow)
    rng = random.Random(7)
    assert fake.sleeps == [rng.uniform(0, 10.0), rng.uniform(0, 20.0)]


def test_max_elapsed_stops_before_a_wait_that_would_overrun_it() -> None:
    fake = FakeTime()
    policy = RetryPolicy(max_attempts=100, base_s=1.0, cap_s=1.0, max_elapsed_s=10.0)

    def always(attempt: Attempt[object]) -> Retry | None:
        return Retry(after_s=3.0)

    final = retrier(policy, fake).run(scripted(*range(100)), always)
    # waits of 3 s: after three (9 s) a fourth would end at 12 s > 10 s
    assert (final.stopped, final.number, fake.sleeps) == ("elapsed", 4, [3.0, 3.0, 3.0])


def test_async_retries_with_the_async_sleep() -> None:
    fake = FakeTime()
    outcomes = iter([ConnectionError("a"), ConnectionError("b"), "done"])

    async def operation() -> object:
        item = next(outcomes)
        if isinstance(item, Exception):
            raise item
        return item

    policy = RetryPolicy(max_attempts=3, base_s=0.5)
    assert asyncio.run(retrier(policy, fake).acall(operation, retry_errors)) == "done"
    rng = random.Random(7)
    assert fake.sleeps == [rng.uniform(0, 0.5), rng.uniform(0, 1.0)]

    final = asyncio.run(
        retrier(RetryPolicy(max_attempts=2), fake).arun(operation_failing(), retry_errors)
    )
    assert final.stopped == "attempts" and isinstance(final.error, ConnectionError)


def operation_failing() -> Callable[[], object]:
    async def operation() -> object:
        raise ConnectionError("always")

    return operation


def test_interrupts_are_never_swallowed() -> None:
    fake = FakeTime()

    def operation() -> object:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        retrier(RetryPolicy(max_attempts=5), fake).call(operation, lambda attempt: Retry())
    assert fake.sleeps == []


@pytest.mark.parametrize(
    "options",
    [
        {"max_attempts": 0},
        {"base_s": -1.0},
        {"cap_s": -1.0},
        {"max_elapsed_s": -1.0},
        {"max_retry_after_s": -1.0},
    ],
)
def test_policy_refuses_impossible_settings(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**options)  # type: ignore[arg-type]


def test_retry_after_parsing() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3", now) == 3.0
    assert retry_after_seconds(" 1.5 ", now) == 1.5
    assert retry_after_seconds("-4", now) == 0.0
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:10 GMT", now) == 10.0
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None) is None


def test_retryable_statuses() -> None:
    assert [s for s in (200, 400, 404, 408, 409, 425, 429, 500, 503) if is_retryable_status(s)] == [
        408,
        409,
        425,
        429,
        500,
        503,
    ]


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "http://x/"))


def test_http_verdict_classifies_httpx_outcomes() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:9/")
    assert http_verdict(Attempt(1, error=httpx.ConnectError("refused", request=request))) == Retry()
    assert http_verdict(Attempt(1, error=httpx.ReadTimeout("slow", request=request))) == Retry()
    assert http_verdict(Attempt(1, error=ValueError("not http"))) is None
    assert http_verdict(Attempt(1, result=response(200))) is None
    assert http_verdict(Attempt(1, result=response(404))) is None
    assert http_verdict(Attempt(1, result=response(502))) == Retry()
    busy = response(429, {"Retry-After": "12"})
    assert http_verdict(Attempt(1, result=busy)) == Retry(after_s=12.0)
