"""WhatsApp Cloud API client: send text, buttons, lists, images, documents, templates; mark read;
fetch media.

Sends are paced per business number (80/s by default) and per recipient by token buckets that
live where the platform's rate limits live (``pacing_backend``: in process, or in Redis and
then shared by every process and host sending for the number). Requests are retried through
``ssmas.core.retry`` (exponential backoff with full jitter, ``Retry-After`` honoured) on
transport errors, 5xx, 429 and Meta's transient codes, and Meta's error codes map to
exceptions: 131047 (the 24-hour window is closed) → ``WindowClosed`` at once, so the caller can
send a template; 131056 (pair rate limit) is backed off from ``pair_limit_backoff_s`` and
retried, then ``PairRateLimited``.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ssmas.assistant.whatsapp.models.outbound import CALLBACK_DATA_MAX
from ssmas.core.keepalive import KeepAliveClient, proxied
from ssmas.core.ratelimit import MemoryRateLimiter, SyncRateLimiter, open_rate_limiter
from ssmas.core.retry import Attempt, Retrier, Retry, RetryPolicy, retry_after_seconds
from ssmas.settings import WhatsAppSettings

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


PACING_PREFIX = "ssmas:wa-pace:"


class Pacer:
    """Blocks until a send to ``recipient`` fits both the per-number and the per-recipient rate.

    The buckets are ``number_limiter`` and ``recipient_limiter`` when given (Redis ones make the
    limits hold across processes), else in-process ones. Keys name the business number; a
    recipient's key is an HMAC of the phone number under ``key_secret``, so no phone number is
    written to a shared store.
    """

    def __init__(
        self,
        *,
        number_rate: float,
        recipient_rate: float,
        recipient_burst: int,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        number_limiter: SyncRateLimiter | None = None,
        recipient_limiter: SyncRateLimiter | None = None,
        number_id: str = "",
        key_secret: bytes = b"",
    ) -> None:
        burst = max(1, int(number_rate))
        self._number = number_limiter or MemoryRateLimiter(
            rate=number_rate, burst=burst, clock=clock
        )
        self._recipient = recipient_limiter or MemoryRateLimiter(
            rate=recipient_rate, burst=recipient_burst, clock=clock
        )
        self._sleep = sleep
        self._number_key = f"{number_id}:number"
        self._recipient_prefix = f"{number_id}:to:"
        self._key_secret = key_secret or b"ssmas-whatsapp-pacing"

    @classmethod
    def from_settings(
        cls, settings: WhatsAppSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> Pacer:
        """Buckets on ``settings.pacing_backend``: Redis (shared; limited in process while Redis
        is unreachable) or memory (this process only)."""
        backend = settings.pacing_backend or "memory"

        def limiter(rate: float, burst: int) -> SyncRateLimiter:
            return open_rate_limiter(
                backend,
                rate=rate,
                burst=burst,
                redis_url=settings.pacing_redis_url,
                prefix=PACING_PREFIX,
                local_fallback=True,
            )

        number_rate = settings.send_rate_per_s
        return cls(
            number_rate=number_rate,
            recipient_rate=settings.recipient_rate_per_s,
            recipient_burst=settings.recipient_burst,
            sleep=sleep,
            number_limiter=limiter(number_rate, settings.number_burst),
            recipient_limiter=limiter(settings.recipient_rate_per_s, settings.recipient_burst),
            number_id=settings.phone_number_id,
            key_secret=settings.app_secret_bytes,
        )

    def recipient_key(self, recipient: str) -> str:
        digest = hmac.new(self._key_secret, recipient.encode("utf-8"), hashlib.sha256)
        return self._recipient_prefix + digest.hexdigest()[:32]

    def wait(self, recipient: str) -> float:
        """Take one token from both buckets, sleeping as needed; returns seconds slept."""
        slept = 0.0
        for limiter, key in (
            (self._recipient, self.recipient_key(recipient)),
            (self._number, self._number_key),
        ):
            while True:
                decision = limiter.hit_now(key)
                if decision.allowed:
                    break
                # a floor, so float rounding can never leave us spinning on a zero wait
                pause = max(decision.retry_after_s, 0.001)
                self._sleep(pause)
                slept += pause
        return slept

    def close(self) -> None:
        """Release the buckets' connections (Redis)."""
        self._number.close_now()
        self._recipient.close_now()


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
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        policy = RetryPolicy(
            max_attempts=max(1, settings.send_attempts),
            base_s=settings.retry_backoff_s,
            cap_s=settings.retry_cap_s,
            max_elapsed_s=settings.retry_max_elapsed_s,
            max_retry_after_s=settings.retry_max_elapsed_s,
        )
        self._retrier = Retrier(policy, sleep=sleep, rng=rng)
        self._owns_pacer = pacer is None
        self._pacer = pacer or Pacer.from_settings(settings, sleep=sleep)
        base_url = settings.graph_url.rstrip("/") + "/"
        auth = {"Authorization": f"Bearer {settings.access_token}"}
        self._http = httpx.Client(
            base_url=base_url, headers=auth, timeout=settings.send_timeout_s, transport=transport
        )
        # Sends, read receipts and media look-ups (hundreds a second) go over lean keep-alive
        # connections; a given transport (tests), a proxied host and media downloads stay with
        # httpx.
        self._api: httpx.Client | KeepAliveClient = (
            self._http
            if transport is not None or proxied(base_url)
            else KeepAliveClient(base_url, headers=auth, timeout=settings.send_timeout_s)
        )

    def close(self) -> None:
        self._http.close()
        if self._api is not self._http:
            self._api.close()
        if self._owns_pacer:
            self._pacer.close()

    # -- sending -------------------------------------------------------------------------

    # Every send takes ``callback_data``: sent as ``biz_opaque_callback_data``, which Meta echoes
    # in each status webhook of the message, so a status can be matched to the row that sent it
    # even when the sender died before recording Meta's message id.

    def send_text(
        self,
        to: str,
        body: str,
        *,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        payload: dict[str, Any] = {"type": "text", "text": {"preview_url": False, "body": body}}
        if reply_to:
            payload["context"] = {"message_id": reply_to}
        return self._send(to, payload, callback_data)

    def send_buttons(
        self,
        to: str,
        body: str,
        buttons: Sequence[tuple[str, str]],
        *,
        callback_data: str | None = None,
    ) -> SendResult:
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
        return self._send(to, {"type": "interactive", "interactive": interactive}, callback_data)

    def send_list(
        self,
        to: str,
        body: str,
        button: str,
        rows: Sequence[tuple[str, str, str | None]],
        *,
        section: str = "Options",
        callback_data: str | None = None,
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
        return self._send(to, {"type": "interactive", "interactive": interactive}, callback_data)

    def send_media(
        self,
        to: str,
        kind: str,
        link: str,
        *,
        caption: str | None = None,
        filename: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """An image or a document by URL (Meta fetches it), with an optional caption (and a
        file name for documents)."""
        if kind not in ("image", "document"):
            raise ValueError("media sends are image or document")
        media: dict[str, Any] = {"link": link}
        if caption:
            media["caption"] = caption[:1024]
        if filename and kind == "document":
            media["filename"] = filename[:240]
        return self._send(to, {"type": kind, kind: media}, callback_data)

    def send_template(
        self,
        to: str,
        name: str,
        language: str,
        *,
        parameters: Sequence[str] = (),
        callback_data: str | None = None,
    ) -> SendResult:
        """An approved template (the only thing allowed outside the 24-hour window)."""
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if parameters:
            params = [{"type": "text", "text": value} for value in parameters]
            template["components"] = [{"type": "body", "parameters": params}]
        return self._send(to, {"type": "template", "template": template}, callback_data)

    def mark_read(self, message_id: str) -> None:
        """Tell WhatsApp the customer's message was read (blue ticks); errors are raised."""
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        self._request("POST", self._messages_path(), body, recipient=None)

    def _messages_path(self) -> str:
        return f"{self.settings.phone_number_id}/messages"

    def _send(
        self, to: str, content: dict[str, Any], callback_data: str | None = None
    ) -> SendResult:
        if callback_data is not None and not 1 <= len(callback_data) <= CALLBACK_DATA_MAX:
            raise ValueError(f"callback_data must be 1 to {CALLBACK_DATA_MAX} characters")
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        body.update(content)
        if callback_data is not None:
            body["biz_opaque_callback_data"] = callback_data
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
        final = self._retrier.run(lambda: self._http.get(url), self._verdict)
        response = self._response(final)
        if response.status_code == 200:
            if len(response.content) > max_bytes:
                raise GraphError("media too large", status=413, code=None, retryable=False)
            return response.content
        code, message = _error_of(response)
        raise GraphError(
            f"media download failed: {message}",
            status=response.status_code,
            code=code,
            retryable=_retryable(response.status_code, code),
        )

    # -- transport -----------------------------------------------------------------------

    def _verdict(self, attempt: Attempt[httpx.Response]) -> Retry | None:
        """Which outcomes to try again: transport errors, 5xx, 429, Meta's transient codes,
        and the pair rate limit (from its own, longer backoff base)."""
        if attempt.error is not None:
            return Retry() if isinstance(attempt.error, httpx.TransportError) else None
        response = attempt.result
        if response is None or response.status_code < 300:
            return None
        code, _ = _error_of(response)
        if code == CODE_WINDOW_CLOSED:
            return None
        if code == CODE_PAIR_RATE_LIMIT:
            return Retry(base_s=self.settings.pair_limit_backoff_s)
        if _retryable(response.status_code, code):
            return Retry(after_s=retry_after_seconds(response.headers.get("Retry-After")))
        return None

    @staticmethod
    def _response(final: Attempt[httpx.Response]) -> httpx.Response:
        """The last response, or the last transport error as a retryable ``GraphError``."""
        if isinstance(final.error, httpx.TransportError):
            raise GraphError(str(final.error), status=0, code=None, retryable=True) from final.error
        return final.unwrap()

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, *, recipient: str | None
    ) -> dict[str, Any]:
        def attempt() -> httpx.Response:
            if recipient is not None:
                self._pacer.wait(recipient)
            return self._api.request(method, path, json=body)

        response = self._response(self._retrier.run(attempt, self._verdict))
        if response.status_code < 300:
            answer = response.json()
            return answer if isinstance(answer, dict) else {}
        code, message = _error_of(response)
        status = response.status_code
        if code == CODE_WINDOW_CLOSED:
            raise WindowClosed(message, status=status, code=code, retryable=False)
        if code == CODE_PAIR_RATE_LIMIT:
            raise PairRateLimited(message, status=status, code=code, retryable=True)
        raise GraphError(
            message or f"HTTP {status}",
            status=status,
            code=code,
            retryable=_retryable(status, code),
        )


def _retryable(status: int, code: int | None) -> bool:
    return status >= 500 or status == 429 or code in RETRYABLE_CODES
