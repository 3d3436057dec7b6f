"""A rolling window of HTTP request rate and mean latency, read from the Prometheus registry.

Each :meth:`TrafficSampler.sample` reads the running totals of the API's request-duration
histogram (count and sum over every label set); consecutive samples give requests per second and
mean latency over the interval. The dashboard samples on every poll, so the window fills while
someone watches it; samples closer than ``min_interval_s`` are ignored so several open tabs do not
shrink the intervals.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

from prometheus_client import CollectorRegistry

from ssmas.web.charts import break_gaps

REQUEST_HISTOGRAM = "ssmas_api_request_duration_seconds"


class TrafficFeed(TypedDict):
    """The chart's data, column-wise as uPlot takes it (``t`` in Unix seconds).

    Where nobody sampled for a while (no one watched the page) a null row marks the gap
    (``ssmas.web.charts.break_gaps``), so the chart does not draw a line across it; a null
    latency alone means no request in that interval.
    """

    available: bool
    t: list[float]
    rps: list[float | None]
    latency_ms: list[float | None]


@dataclass(frozen=True)
class _Totals:
    at: float
    count: float
    seconds: float


def histogram_totals(registry: CollectorRegistry, name: str) -> tuple[float, float] | None:
    """``(observations, summed seconds)`` of histogram ``name`` over all labels; None if absent."""
    for family in registry.collect():
        if family.name != name or family.type != "histogram":
            continue
        count = sum(s.value for s in family.samples if s.name == f"{name}_count")
        total = sum(s.value for s in family.samples if s.name == f"{name}_sum")
        return count, total
    return None


class TrafficSampler:
    """Keeps the last ``capacity`` intervals of request rate and latency."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        metric: str = REQUEST_HISTOGRAM,
        capacity: int = 120,
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._registry = registry
        self._metric = metric
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._last: _Totals | None = None
        self._points: deque[tuple[float, float, float | None]] = deque(maxlen=capacity)
        self._available = False
        self._lock = threading.Lock()

    def sample(self) -> None:
        """Read the totals now and, if enough time passed, append one interval."""
        totals = histogram_totals(self._registry, self._metric)
        now = self._clock()
        with self._lock:
            self._available = totals is not None
            if totals is None:
                return
            current = _Totals(at=now, count=totals[0], seconds=totals[1])
            previous = self._last
            if previous is not None and now - previous.at < self._min_interval_s:
                return
            self._last = current
            if previous is None:
                return
            requests = current.count - previous.count
            if requests < 0:  # the registry was reset (a restart): start over from here
                return
            elapsed = current.at - previous.at
            latency = (current.seconds - previous.seconds) / requests * 1000 if requests else None
            self._points.append((current.at, requests / elapsed, latency))

    def feed(self) -> TrafficFeed:
        """The window as columns for the chart."""
        with self._lock:
            points = list(self._points)
            available = self._available
        t, (rps, latency) = break_gaps(
            [round(p[0], 3) for p in points],
            [
                [round(p[1], 4) for p in points],
                [None if p[2] is None else round(p[2], 3) for p in points],
            ],
        )
        return {"available": available, "t": t, "rps": rps, "latency_ms": latency}
