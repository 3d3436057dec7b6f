"""Load shedding: for a while, refuse one product's writes with 503 and ``Retry-After``.

When a product's workers cannot keep up even at their most replicas, ``ssmas up``'s supervisor
(``ssmas.ops.healing``) calls :meth:`LoadShed.shed` with the product's name. Until the time runs
out, :class:`LoadShedMiddleware` answers every non-read request (not GET, HEAD or OPTIONS) to
one of that product's routes with ``503 overloaded`` and ``Retry-After``: the caller keeps its
data and sends it again later, instead of the bus growing a backlog nobody drains. Reads, the
other products and the platform's own endpoints are served as usual. While nothing is shed the
middleware costs one dictionary check per request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from ssmas.core import metrics
from ssmas.core.api.middleware import json_error

__all__ = ["LoadShed", "LoadShedMiddleware", "Shedding"]

READS = frozenset({"GET", "HEAD", "OPTIONS"})
SHED = metrics.counter(
    "api", "shed", "Requests refused with 503 while their product sheds load", labels=("product",)
)


@dataclass(frozen=True)
class Shedding:
    """One product shedding its writes until ``until`` (monotonic seconds), and why."""

    product: str
    until: float
    reason: str


class LoadShed:
    """Which products shed their writes, and until when (thread-safe; one per app)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._active: dict[str, Shedding] = {}

    def shed(self, product: str, seconds: float, reason: str) -> Shedding:
        """Refuse ``product``'s writes for ``seconds`` from now (extends a running shedding)."""
        if seconds <= 0:
            raise ValueError("a shedding must last a positive time")
        entry = Shedding(product, self._clock() + seconds, reason)
        with self._lock:
            self._active[product] = entry
        return entry

    def stop(self, product: str) -> bool:
        """End ``product``'s shedding now; whether one was running."""
        with self._lock:
            return self._active.pop(product, None) is not None

    def active(self) -> list[Shedding]:
        """The sheddings still running (expired ones are forgotten)."""
        now = self._clock()
        with self._lock:
            for name in [n for n, s in self._active.items() if s.until <= now]:
                del self._active[name]
            return list(self._active.values())

    def retry_after(self, product: str) -> int | None:
        """Whole seconds until ``product`` takes writes again, or None when it is not shed."""
        if not self._active:  # the fast path: nothing is shed
            return None
        entry = self._active.get(product)
        if entry is None:
            return None
        left = entry.until - self._clock()
        if left <= 0:
            self.active()
            return None
        return max(1, math.ceil(left))


class LoadShedMiddleware:
    """Refuses writes to the routes of a product that :class:`LoadShed` says is shedding."""

    def __init__(
        self, app: ASGIApp, *, shed: LoadShed, routes: Mapping[str, Sequence[BaseRoute]]
    ) -> None:
        self.app = app
        self.shed = shed
        self.routes = {name: list(found) for name, found in routes.items() if found}

    def _product(self, scope: Scope) -> str | None:
        for entry in self.shed.active():
            for route in self.routes.get(entry.product, ()):
                match, _ = route.matches(scope)
                if match is Match.FULL:
                    return entry.product
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.shed._active or scope["method"] in READS:
            await self.app(scope, receive, send)
            return
        product = self._product(scope)
        wait = self.shed.retry_after(product) if product is not None else None
        if product is None or wait is None:
            await self.app(scope, receive, send)
            return
        SHED.labels(product).inc()
        request_id = scope.get("state", {}).get("request_id")
        message = f"{product} is shedding load while its workers catch up; retry in {wait} s"
        start, body = json_error(503, "overloaded", message, request_id)
        start["headers"] = [*start["headers"], (b"retry-after", str(wait).encode())]
        await send(start)
        await send(body)
