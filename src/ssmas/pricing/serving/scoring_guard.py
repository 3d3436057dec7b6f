"""How a model is called: inline while it is proven fast, behind a timeout otherwise, not at all
once it has timed out (a circuit breaker).

Handing a call to a thread and waiting with a timeout is what lets a slow model never hold a
response, but the hand-off costs more than scoring one row. So a model earns the inline path:

* ``guarded`` (every new model): calls run on the scoring thread under the timeout; after
  ``probation`` consecutive calls faster than ``inline_budget_s`` the model goes ``inline``.
* ``inline``: calls run on the event loop; one slower than ``inline_budget_s`` (a quarter of
  the timeout by default) sends the model back to ``guarded``.
* ``open``: a call timed out; answers come from the fallback at once, and one request per
  ``probe_interval_s`` probes the model (guarded); a probe in time closes the circuit again.

The one case the timeout cannot cover is a model that turns slow while ``inline``: that first
slow call is answered late, and every call after it is guarded. A served model has two guards:
one for single rows (``timeout_ms``), which is also the model's circuit for batches, and one
that decides whether batches (``batch_timeout_ms``) run inline; a batch timeout opens both.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Literal, TypeVar

Route = Literal["inline", "guarded", "open"]
T = TypeVar("T")


class ScoringGuard:
    """The breaker state of one served model (updated from the event loop only)."""

    def __init__(
        self,
        timeout_s: float,
        *,
        inline_budget_s: float | None = None,
        probation: int = 20,
        probe_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_s = timeout_s
        self.inline_budget_s = timeout_s / 4 if inline_budget_s is None else inline_budget_s
        self.probation = probation
        self.probe_interval_s = probe_interval_s
        self.clock = clock
        self.mode: Route = "guarded"
        self.fast_streak = 0
        self.next_probe = 0.0
        self.timeouts = 0

    def route(self) -> Route:
        """How to run the next call; an ``open`` breaker lets one probe through per interval."""
        if self.mode != "open":
            return self.mode
        now = self.clock()
        if now >= self.next_probe:
            self.next_probe = now + self.probe_interval_s
            return "guarded"
        return "open"

    def succeeded(self, seconds: float) -> None:
        """A call answered in ``seconds``."""
        if seconds > self.inline_budget_s:
            self.mode, self.fast_streak = "guarded", 0
            return
        if self.mode == "open":
            self.mode, self.fast_streak = "guarded", 0
        self.fast_streak += 1
        if self.mode == "guarded" and self.fast_streak >= self.probation:
            self.mode = "inline"

    def failed(self) -> None:
        """A call raised: trust nothing until it proves itself again."""
        if self.mode != "open":
            self.mode = "guarded"
        self.fast_streak = 0

    def timed_out(self) -> None:
        """A call missed the timeout: open the circuit."""
        self.mode, self.fast_streak = "open", 0
        self.timeouts += 1
        self.next_probe = self.clock() + self.probe_interval_s


class ScoringThread:
    """One daemon thread that runs guarded scoring calls in order.

    Not a ``ThreadPoolExecutor``: its threads are joined when the interpreter exits, so a hung
    model would hold up the server's shutdown. A call cancelled before it starts is skipped.
    """

    def __init__(self, name: str = "ssmas-pricing-score") -> None:
        self._queue: queue.SimpleQueue[
            tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None
        ]
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((future, fn, args))
        return future

    def shutdown(self) -> None:
        """Stop after the calls already queued (returns at once)."""
        self._queue.put(None)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the waiting request
                future.set_exception(exc)
