"""HTTP POST with a per-request timeout and bounded retries, shared by the HTTP notifiers."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from ssmas.core.notify.notification import NotifyError
from ssmas.core.retry import Retrier, RetryPolicy, http_verdict


class HttpDelivery:
    """POSTs bytes to a URL; retries timeouts, connection errors, 408/409/425/429 and 5xx.

    Retries go through ``ssmas.core.retry``: ``Retry-After`` seconds when given (giving up at
    once beyond ``max_retry_after_s``), otherwise a full-jitter backoff under
    ``backoff_base_s * 2**attempt`` capped at ``backoff_cap_s``. Other non-2xx answers raise
    ``NotifyError`` at once. Error messages name the host only, never the full URL, because
    webhook URLs often embed their secret.
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
        self.policy = RetryPolicy(
            max_attempts=max_retries + 1,
            base_s=backoff_base_s,
            cap_s=backoff_cap_s,
            max_retry_after_s=max_retry_after_s,
        )
        self._retrier = Retrier(self.policy, sleep=sleep, rng=rng)
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), transport=transport)

    def close(self) -> None:
        self._client.close()

    def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
        host = urlsplit(url).netloc or url
        final = self._retrier.run(
            lambda: self._client.post(url, content=content, headers=headers), http_verdict
        )
        error = final.error
        if isinstance(error, httpx.TimeoutException):
            raise NotifyError(
                f"{host} did not answer within {self.timeout_s:g}s",
                target=self.target,
                retryable=True,
            ) from error
        if isinstance(error, httpx.TransportError):
            raise NotifyError(
                f"cannot reach {host}: {type(error).__name__}", target=self.target, retryable=True
            ) from error
        response = final.unwrap()
        if response.is_success:
            return response
        detail = f"HTTP {response.status_code} from {host}: {response.text[:200]}"
        # http_verdict retried it: a retryable failure that outlasted the policy
        retryable = final.stopped != "done"
        raise NotifyError(detail, target=self.target, retryable=retryable)
