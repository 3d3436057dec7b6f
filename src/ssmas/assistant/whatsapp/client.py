"""WhatsApp Cloud API client: send text, buttons, lists, templates; mark read; fetch media.

Sends are paced (per business number, 80/s by default, and per recipient), retried with
exponential backoff on 5xx, 429 and transport errors, and map Meta's error codes to exceptions:
131047 (the 24-hour window is closed) → ``WindowClosed`` at once, so the caller can send a
template; 131056 (pair rate limit) is backed off and retried, then ``PairRateLimited``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ssmas.assistant.whatsapp.config import WhatsAppSettings
from ssmas.core.ratelimit import MemoryRateLimiter

CODE_WINDOW_CLOSED = 131047
CODE_PAIR_RATE_LIMIT = 131056
RETRYABLE_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 133004})


class GraphError(Exception):
    """The Graph API refused or failed a request; ``retryable`` says whether to try again."""

    def __init__(self, message: str, *, status: int, code: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable


class WindowClosed(GraphError):
    """131047: more than 24 hours since the customer's last message; only templates go out."""


class PairRateLimited(GraphError):
    """131056: too many messages to this recipient in a short time, even after backing off."""


@dataclass(frozen=True)
class SendResult:
    """WhatsApp accepted a message and named it ``wa_id``."""

    wa_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class MediaLocation:
    """Where a media id can be downloaded from (the URL expires within minutes)."""

    media_id: str
    url: str
    mime_type: str
    sha256: str | None
    file_size: int | None


class Pacer:
    """Blocks until a send to ``recipient`` fits both the per-number and the per-recipient rate."""

    def __init__(
        self,
        *,
        number_rate: float,
        recipient_rate: float,
        recipient_burst: int,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        burst = max(1, int(number_rate))
        self._number = MemoryRateLimiter(rate=number_rate, burst=burst, clock=clock)
        self._recipient = MemoryRateLimiter(rate=recipient_rate, burst=recipient_burst, clock=clock)
        self._sleep = sleep

    def wait(self, recipient: str) -> float:
        """Take one token from both buckets, sleeping as needed; returns seconds slept."""
        slept = 0.0
        for limiter, key in ((self._recipient, f"to:{recipient}"), (self._number, "number")):
            while True:
                decision = limiter.hit_now(key)
                if decision.allowed:
                    break
                # a floor, so float rounding can never leave us spinning on a zero wait
                pause = max(decision.retry_after_s, 0.001)
                self._sleep(pause)
                slept += pause
        return slept


def _error_of(response: httpx.Response) -> tuple[int | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, str(body)[:200]
    code = error.get("code")
    return (int(code) if isinstance(code, int) else None), str(error.get("message", ""))[:300]


class GraphClient:
    """A synchronous client for one business number (workers are threads, not coroutines)."""

    def __init__(
        self,
        settings: WhatsAppSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pacer: Pacer | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._backoff_s = settings.retry_backoff_s
        self._pacer = pacer or Pacer(
            number_rate=settings.send_rate_per_s,
            recipient_rate=settings.recipient_rate_per_s,
            recipient_burst=settings.recipient_burst,
            sleep=sleep,
        )
        self._http = httpx.Client(
            base_url=settings.graph_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {settings.access_token}"},
            timeout=settings.send_timeout_s,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    # -- sending -------------------------------------------------------------------------

    def send_text(self, to: str, body: str, *, reply_to: str | None = None) -> SendResult:
        payload: dict[str, Any] = {"type": "text", "text": {"preview_url": False, "body": body}}
        if reply_to:
            payload["context"] = {"message_id": reply_to}
        return self._send(to, payload)

    def send_buttons(self, to: str, body: str, buttons: Sequence[tuple[str, str]]) -> SendResult:
        """Up to three reply buttons, each ``(id, title)``."""
        if not 1 <= len(buttons) <= 3:
            raise ValueError("WhatsApp allows one to three reply buttons")
        action = {
            "buttons": [
                {"type": "reply", "reply": {"id": bid, "title": title[:20]}}
                for bid, title in buttons
            ]
        }
        interactive = {"type": "button", "body": {"text": body}, "action": action}
        return self._send(to, {"type": "interactive", "interactive": interactive})

    def send_list(
        self,
        to: str,
        body: str,
        button: str,
        rows: Sequence[tuple[str, str, str | None]],
        *,
        section: str = "Options",
    ) -> SendResult:
        """A list message with one section of rows ``(id, title, description)``."""
        if not 1 <= len(rows) <= 10:
            raise ValueError("WhatsApp allows one to ten list rows")
        items = []
        for rid, title, description in rows:
            row = {"id": rid, "title": title[:24]}
            if description:
                row["description"] = description[:72]
            items.append(row)
        action = {"button": button[:20], "sections": [{"title": section[:24], "rows": items}]}
        interactive = {"type": "list", "body": {"text": body}, "action": action}
        return self._send(to, {"type": "interactive", "interactive": interactive})

    def send_template(
        self,
        to: str,
        name: str,
        language: str,
        *,
        parameters: Sequence[str] = (),
    ) -> SendResult:
        """An approved template (the only thing allowed outside the 24-hour window)."""
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if parameters:
            params = [{"type": "text", "text": value} for value in parameters]
            template["components"] = [{"type": "body", "parameters": params}]
        return self._send(to, {"type": "template", "template": template})

    def mark_read(self, message_id: str) -> None:
        """Tell WhatsApp the customer's message was read (blue ticks); errors are raised."""
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        self._request("POST", self._messages_path(), body, recipient=None)

    def _messages_path(self) -> str:
        return f"{self.settings.phone_number_id}/messages"

    def _send(self, to: str, content: dict[str, Any]) -> SendResult:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        body.update(content)
        answer = self._request("POST", self._messages_path(), body, recipient=to)
        messages = answer.get("messages") if isinstance(answer, dict) else None
        if not messages or not isinstance(messages[0], dict) or "id" not in messages[0]:
            raise GraphError(
                "send answer has no message id", status=200, code=None, retryable=False
            )
        return SendResult(wa_id=str(messages[0]["id"]), payload=body)

    # -- media ---------------------------------------------------------------------------

    def media_location(self, media_id: str) -> MediaLocation:
        """Resolve a media id to its short-lived download URL."""
        answer = self._request("GET", media_id, None, recipient=None)
        size = answer.get("file_size")
        return MediaLocation(
            media_id=str(answer.get("id", media_id)),
            url=str(answer["url"]),
            mime_type=str(answer.get("mime_type", "")),
            sha256=answer.get("sha256"),
            file_size=int(size) if size is not None else None,
        )

    def download(self, url: str, *, max_bytes: int = 100 * 1024 * 1024) -> bytes:
        """The bytes at a media URL (same bearer token), refusing anything over ``max_bytes``."""
        for attempt in range(self.settings.send_attempts):
            try:
                response = self._http.get(url)
            except httpx.TransportError as exc:
                if attempt + 1 >= self.settings.send_attempts:
                    raise GraphError(str(exc), status=0, code=None, retryable=True) from exc
                self._pause(attempt)
                continue
            if response.status_code == 200:
                if len(response.content) > max_bytes:
                    raise GraphError("media too large", status=413, code=None, retryable=False)
                return response.content
            retryable = response.status_code >= 500 or response.status_code == 429
            if not retryable or attempt + 1 >= self.settings.send_attempts:
                code, message = _error_of(response)
                raise GraphError(
                    f"media download failed: {message}",
                    status=response.status_code,
                    code=code,
                    retryable=retryable,
                )
            self._pause(attempt)
        raise AssertionError("unreachable")

    # -- transport -----------------------------------------------------------------------

    def _pause(self, attempt: int, base: float | None = None) -> None:
        delay = (base if base is not None else self._backoff_s) * (2**attempt)
        self._sleep(delay * (0.5 + random.random() / 2))

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, *, recipient: str | None
    ) -> dict[str, Any]:
        attempts = max(1, self.settings.send_attempts)
        for attempt in range(attempts):
            last = attempt + 1 >= attempts
            if recipient is not None:
                self._pacer.wait(recipient)
            try:
                response = self._http.request(method, path, json=body)
            except httpx.TransportError as exc:
                if last:
                    raise GraphError(str(exc), status=0, code=None, retryable=True) from exc
                self._pause(attempt)
                continue
            if response.status_code < 300:
                answer = response.json()
                return answer if isinstance(answer, dict) else {}
            code, message = _error_of(response)
            if code == CODE_WINDOW_CLOSED:
                raise WindowClosed(message, status=response.status_code, code=code, retryable=False)
            if code == CODE_PAIR_RATE_LIMIT:
                if last:
                    raise PairRateLimited(
                        message, status=response.status_code, code=code, retryable=True
                    )
                self._pause(attempt, self.settings.pair_limit_backoff_s)
                continue
            retryable = response.status_code >= 500 or response.status_code == 429
            retryable = retryable or code in RETRYABLE_CODES
            if not retryable or last:
                raise GraphError(
                    message or f"HTTP {response.status_code}",
                    status=response.status_code,
                    code=code,
                    retryable=retryable,
                )
            self._pause(attempt)
        raise AssertionError("unreachable")
