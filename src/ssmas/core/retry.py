"""Retrying with exponential backoff and full jitter: one module for every outbound call.

A ``Retrier`` runs an operation, shows each outcome (its result or the exception it raised) to
a ``decide`` predicate, and retries while the predicate says ``Retry(...)``:

- the wait before retry *n* (0-based) is drawn uniformly from ``[0, min(cap_s, base_s * 2**n)]``
  ("full jitter": clients that failed together do not retry together), unless the verdict
  carries ``after_s`` (a server's ``Retry-After``), which is waited exactly;
- it stops after ``max_attempts`` tries, before a wait that would end past ``max_elapsed_s``
  since the first try, and at once when a server asks to wait more than ``max_retry_after_s``;
- when it stops, ``call`` returns the last result or raises the last exception, unchanged, so
  callers map outcomes to their own errors; ``run`` returns the last ``Attempt`` instead, with
  why it stopped.

``sleep``, ``async_sleep``, ``rng`` and ``clock`` are injectable, so tests are deterministic.
The HTTP helpers (``retry_after_seconds``, ``is_retryable_status``, ``http_verdict``) classify
``httpx`` outcomes the same way for every client.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Generic, Literal, TypeVar

import httpx

T = TypeVar("T")

Stop = Literal["done", "attempts", "elapsed", "retry_after"]

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})


@dataclass(frozen=True, slots=True)
class Retry:
    """A verdict: try again, after exactly ``after_s`` seconds when set (``Retry-After``), else
    after the policy's backoff, computed from ``base_s`` instead of the policy's when given."""

    after_s: float | None = None
    base_s: float | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry.

    ``max_attempts`` counts every try, the first included; ``max_elapsed_s`` (None: no limit)
    bounds the time from the first try to the start of the last one.
    """

    max_attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 8.0
    max_elapsed_s: float | None = None
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_s < 0 or self.cap_s < 0:
            raise ValueError("base_s and cap_s must be >= 0")
        if self.max_elapsed_s is not None and self.max_elapsed_s < 0:
            raise ValueError("max_elapsed_s must be >= 0 or None")
        if self.max_retry_after_s < 0:
            raise ValueError("max_retry_after_s must be >= 0")

    def ceiling(self, retry: int, base_s: float | None = None) -> float:
        """The longest backoff before retry ``retry`` (0-based): ``base * 2**retry``, capped."""
        base = self.base_s if base_s is None else base_s
        return float(min(self.cap_s, base * 2.0 ** min(retry, 64)))


@dataclass(frozen=True, slots=True)
class Attempt(Generic[T]):
    """One try: ``number`` (1-based), and its ``result`` or the ``error`` it raised.

    On the attempt ``run`` returns, ``stopped`` says why there was no other: ``done`` (the
    predicate did not ask for a retry), ``attempts``, ``elapsed`` or ``retry_after``."""

    number: int
    result: T | None = None
    error: Exception | None = None
    stopped: Stop | None = None
    retry_after_s: float | None = None

    def unwrap(self) -> T:
        """The result, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


Decide = Callable[[Attempt[T]], Retry | None]


class Retrier:
    """Runs operations under one ``RetryPolicy``; thread-safe when ``rng`` is not shared."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._rng = rng or random.Random()
        self._clock = clock

    def backoff(self, retry: int, verdict: Retry | None = None) -> float:
        """The wait before retry ``retry`` (0-based): the verdict's ``after_s``, or full jitter."""
        if verdict is not None and verdict.after_s is not None:
            return max(0.0, verdict.after_s)
        ceiling = self.policy.ceiling(retry, verdict.base_s if verdict else None)
        return self._rng.uniform(0.0, ceiling)

    def _next(self, attempt: Attempt[T], verdict: Retry | None, began: float) -> float | Stop:
        """The wait before the next try, or why there is none."""
        policy = self.policy
        if verdict is None:
            return "done"
        if verdict.after_s is not None and verdict.after_s > policy.max_retry_after_s:
            return "retry_after"
        if attempt.number >= policy.max_attempts:
            return "attempts"
        wait = self.backoff(attempt.number - 1, verdict)
        limit = policy.max_elapsed_s
        if limit is not None and self._clock() - began + wait > limit:
            return "elapsed"
        return wait

    @staticmethod
    def _final(attempt: Attempt[T], stop: Stop, verdict: Retry | None) -> Attempt[T]:
        after = verdict.after_s if verdict is not None else None
        return Attempt(attempt.number, attempt.result, attempt.error, stop, after)

    def run(self, operation: Callable[[], T], decide: Decide[T]) -> Attempt[T]:
        """Try ``operation`` until ``decide`` stops asking for a retry or the policy stops it."""
        began = self._clock()
        number = 0
        while True:
            number += 1
            try:
                attempt: Attempt[T] = Attempt(number, result=operation())
            except Exception as exc:  # the predicate decides what is retryable
                attempt = Attempt(number, error=exc)
            verdict = decide(attempt)
            step = self._next(attempt, verdict, began)
            if isinstance(step, str):
                return self._final(attempt, step, verdict)
            self._sleep(step)

    def call(self, operation: Callable[[], T], decide: Decide[T]) -> T:
        """``run``, then return the last result or raise the last error."""
        return self.run(operation, decide).unwrap()

    async def arun(self, operation: Callable[[], Awaitable[T]], decide: Decide[T]) -> Attempt[T]:
        """``run`` for coroutines: awaits each try and sleeps with ``async_sleep``."""
        began = self._clock()
        number = 0
        while True:
            number += 1
            try:
                attempt: Attempt[T] = Attempt(number, result=await operation())
            except Exception as exc:  # the predicate decides what is retryable
                attempt = Attempt(number, error=exc)
            verdict = decide(attempt)
            step = self._next(attempt, verdict, began)
            if isinstance(step, str):
                return self._final(attempt, step, verdict)
            await self._async_sleep(step)

    async def acall(self, operation: Callable[[], Awaitable[T]], decide: Decide[T]) -> T:
        """``arun``, then return the last result or raise the last error."""
        return (await self.arun(operation, decide)).unwrap()


# --- HTTP -------------------------------------------------------------------------------------


def is_retryable_status(status: int) -> bool:
    """408, 409, 425, 429 and every 5xx: worth another try; other statuses are final."""
    return status in RETRYABLE_STATUS or status >= 500


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def http_verdict(attempt: Attempt[httpx.Response]) -> Retry | None:
    """Retry transport errors (timeouts, refused connections) and retryable statuses, honouring
    ``Retry-After``; anything else (a success, a 4xx, another exception) is final."""
    if attempt.error is not None:
        return Retry() if isinstance(attempt.error, httpx.TransportError) else None
    response = attempt.result
    if response is None or response.is_success or not is_retryable_status(response.status_code):
        return None
    return Retry(after_s=retry_after_seconds(response.headers.get("Retry-After")))
