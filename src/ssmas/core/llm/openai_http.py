"""``LLM`` adapter for any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, ...)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from ssmas.core.llm.backoff import Backoff, is_retryable_status, retry_after_seconds
from ssmas.core.llm.messages import (
    ChatMessage,
    Completion,
    LLMBadResponse,
    LLMError,
    LLMRejected,
    LLMTimeout,
    LLMUnavailable,
    ToolSpec,
)
from ssmas.core.llm.openai_schema import build_request, parse_completion


class OpenAICompatibleLLM:
    """Chat completions over HTTP with per-request timeouts and bounded retries.

    Retries (up to ``max_retries`` after the first try) on timeouts, connection errors, 429 and
    5xx, waiting ``Retry-After`` when the server sends it (giving up at once if it asks for more
    than ``backoff.max_retry_after_s``), otherwise an exponential backoff with jitter. Other 4xx
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
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self._sleep = sleep
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
        last_error: LLMError = LLMUnavailable("no attempt made")
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                response = self._client.post(url, json=body)
            except httpx.TimeoutException as exc:
                last_error = LLMTimeout(
                    f"no answer from {self.base_url} within {self.timeout_s:g}s "
                    f"({type(exc).__name__})"
                )
            except httpx.TransportError as exc:
                last_error = LLMUnavailable(f"cannot reach {self.base_url}: {exc}")
            else:
                if response.is_success:
                    try:
                        return response.json()
                    except ValueError:
                        raise LLMBadResponse(
                            f"HTTP {response.status_code} body is not JSON: {response.text[:200]!r}"
                        )
                if not is_retryable_status(response.status_code):
                    raise LLMRejected(
                        f"HTTP {response.status_code} from {self.base_url}: {response.text[:300]}",
                        response.status_code,
                    )
                last_error = LLMUnavailable(
                    f"HTTP {response.status_code} from {self.base_url} after {attempt + 1} "
                    f"attempt(s): {response.text[:200]}"
                )
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                if retry_after is not None and retry_after > self.backoff.max_retry_after_s:
                    raise LLMUnavailable(
                        f"{self.base_url} asked to retry after {retry_after:g}s, "
                        f"more than the {self.backoff.max_retry_after_s:g}s allowed"
                    )
            if attempt < self.max_retries:
                self._sleep(self.backoff.delay(attempt, retry_after))
        raise last_error
