"""``LLM`` adapter for any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, ...)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from ssmas.core.llm.messages import (
    ChatMessage,
    Completion,
    LLMBadResponse,
    LLMRejected,
    LLMTimeout,
    LLMUnavailable,
    ToolSpec,
)
from ssmas.core.llm.openai_schema import build_request, parse_completion
from ssmas.core.retry import Retrier, RetryPolicy, http_verdict, is_retryable_status


class OpenAICompatibleLLM:
    """Chat completions over HTTP with per-request timeouts and bounded retries.

    Retries (``ssmas.core.retry``; up to ``max_retries`` after the first try, or as ``retry``
    says) on timeouts, connection errors, 408/409/425/429 and 5xx, waiting ``Retry-After`` when
    the server sends it (giving up at once if it asks for more than
    ``retry.max_retry_after_s``), otherwise an exponential backoff with full jitter. Other 4xx
    raise ``LLMRejected`` straight away; an unparseable body raises ``LLMBadResponse``.
    """

    provider = "openai-compatible"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str = "gpt-4o-mini",
        timeout_s: float = 10.0,
        max_retries: int = 2,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy(max_attempts=max_retries + 1)
        self.max_retries = self.retry.max_attempts - 1
        self._retrier = Retrier(self.retry, sleep=sleep, rng=rng)
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s), headers=headers, transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatibleLLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        tools: list[ToolSpec] | None = None,
        model: str | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> Completion:
        chosen = model or self.model
        body = build_request(
            messages, model=chosen, tools=tools, max_tokens=max_tokens, temperature=temperature
        )
        payload = self._post_with_retries(body)
        return parse_completion(payload, requested_model=chosen, provider=self.provider)

    def _post_with_retries(self, body: dict[str, Any]) -> Any:
        url = f"{self.base_url}/chat/completions"
        final = self._retrier.run(lambda: self._client.post(url, json=body), http_verdict)
        if isinstance(final.error, httpx.TimeoutException):
            raise LLMTimeout(
                f"no answer from {self.base_url} within {self.timeout_s:g}s "
                f"({type(final.error).__name__})"
            ) from final.error
        if isinstance(final.error, httpx.TransportError):
            raise LLMUnavailable(f"cannot reach {self.base_url}: {final.error}") from final.error
        response = final.unwrap()
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise LLMBadResponse(
                    f"HTTP {response.status_code} body is not JSON: {response.text[:200]!r}"
                ) from None
        if not is_retryable_status(response.status_code):
            raise LLMRejected(
                f"HTTP {response.status_code} from {self.base_url}: {response.text[:300]}",
                response.status_code,
            )
        if final.stopped == "retry_after":
            raise LLMUnavailable(
                f"{self.base_url} asked to retry after {final.retry_after_s:g}s, "
                f"more than the {self.retry.max_retry_after_s:g}s allowed"
            )
        raise LLMUnavailable(
            f"HTTP {response.status_code} from {self.base_url} after {final.number} "
            f"attempt(s): {response.text[:200]}"
        )
