"""HTTP POST with a per-request timeout and bounded retries, shared by the HTTP notifiers."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from ssmas.core.notify.notification import NotifyError


def _retryable(status: int) -> bool:
    return status in {408, 425, 429} or status >= 500


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class HttpDelivery:
    """POSTs bytes to a URL; retries timeouts, connection errors, 429 and 5xx.

    Waits ``Retry-After`` seconds when given (up to ``max_retry_after_s``), otherwise
    ``backoff_base_s * 2**attempt`` capped at ``backoff_cap_s``, with jitter. Other non-2xx
    answers raise ``NotifyError`` at once. Error messages name the host only, never the full URL,
    because webhook URLs often embed their secret.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout_s: float = 5.0,
        max_retries: int = 2,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 8.0,
        max_retry_after_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if max_retries < 0 or timeout_s <= 0:
            raise ValueError("max_retries must be >= 0 and timeout_s > 0")
        self.target = target
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), transport=transport)

    def close(self) -> None:
        self._client.close()

    def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
        host = urlsplit(url).netloc or url
        last = NotifyError("no attempt made", target=self.target, retryable=True)
        for attempt in range(self.max_retries + 1):
            wait: float | None = None
            try:
                response = self._client.post(url, content=content, headers=headers)
            except httpx.TimeoutException:
                last = NotifyError(
                    f"{host} did not answer within {self.timeout_s:g}s",
                    target=self.target,
                    retryable=True,
                )
            except httpx.TransportError as exc:
                last = NotifyError(
                    f"cannot reach {host}: {type(exc).__name__}", target=self.target, retryable=True
                )
            else:
                if response.is_success:
                    return response
                detail = f"HTTP {response.status_code} from {host}: {response.text[:200]}"
                if not _retryable(response.status_code):
                    raise NotifyError(detail, target=self.target)
                last = NotifyError(detail, target=self.target, retryable=True)
                wait = _retry_after(response.headers.get("Retry-After"))
                if wait is not None and wait > self.max_retry_after_s:
                    raise last
            if attempt < self.max_retries:
                self._sleep(wait if wait is not None else self._backoff(attempt))
        raise last

    def _backoff(self, attempt: int) -> float:
        ceiling: float = min(self.backoff_cap_s, self.backoff_base_s * 2.0**attempt)
        return ceiling * (0.5 + 0.5 * self._rng.random())
