"""The SMS provider port and its Twilio-compatible HTTP adapter.

``SmsProvider.send`` asks the provider to send one message and returns its id (Twilio's
``sid``) and first status; ``find`` lists the messages already sent to a number since a time,
which is how a sender that took over a lapsed claim learns whether the dead sender's request
was accepted. The adapter speaks Twilio's Messages resource
(``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded ``To``, ``From``,
``Body``, ``StatusCallback``; HTTP basic auth with the account SID and auth token) and adds an
``Idempotency-Key`` header that providers which honour it use to refuse a second copy.

Retries: a connection refused, a 429 (after its ``Retry-After``) and a 5xx are tried again; a
request that may have reached the provider without an answer (a read timeout) is not, and
raises ``ProviderError(ambiguous=True)``: the caller reconciles through ``find`` first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from ssmas.core.retry import Attempt, Retrier, Retry, RetryPolicy, retry_after_seconds

API_VERSION = "2010-04-01"
FIND_PAGE = 50  # a number gets few messages from us in the reconciliation window


class ProviderError(Exception):
    """The provider refused or did not answer. ``retryable``: worth trying later (429, 5xx,
    unreachable); ``ambiguous``: the request may have been accepted; ``code``: the provider's
    error code (Twilio's, e.g. 21211 for an invalid number)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        ambiguous: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ProviderMessage:
    """A message the provider holds: its id, status, recipient, body and creation time."""

    sid: str
    status: str
    to: str
    body: str
    created_at: datetime | None = None


class SmsProvider(Protocol):
    """Sends SMS and lists what it sent; thread-safe. ``close`` releases connections."""

    def send(
        self, to: str, body: str, *, status_callback: str | None, idempotency_key: str
    ) -> ProviderMessage: ...

    def find(self, to: str, since: datetime) -> list[ProviderMessage]: ...

    def close(self) -> None: ...


def _created(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _message(data: Any) -> ProviderMessage:
    if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
        raise ProviderError("provider answer has no message sid", status=200)
    return ProviderMessage(
        sid=data["sid"],
        status=str(data.get("status") or "queued"),
        to=str(data.get("to") or ""),
        body=str(data.get("body") or ""),
        created_at=_created(data.get("date_created")),
    )


def _verdict(attempt: Attempt[httpx.Response]) -> Retry | None:
    """Retry what certainly did not send: refused connections, 429 and 5xx answers."""
    if attempt.error is not None:
        return Retry() if isinstance(attempt.error, httpx.ConnectError) else None
    response = attempt.result
    if response is None or response.is_success:
        return None
    if response.status_code == 429 or response.status_code >= 500:
        return Retry(after_s=retry_after_seconds(response.headers.get("Retry-After")))
    return None


class TwilioClient:
    """``SmsProvider`` over Twilio's Messages API (or any server speaking it, like the fake)."""

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        timeout_s: float = 10.0,
        attempts: int = 4,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.from_number = from_number
        self._path = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=(account_sid, auth_token),
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        policy = RetryPolicy(max_attempts=attempts, base_s=0.2, cap_s=5.0, max_retry_after_s=30.0)
        self._retrier = Retrier(policy) if sleep is None else Retrier(policy, sleep=sleep)

    def close(self) -> None:
        self._client.close()

    def _call(self, request: Callable[[], httpx.Response]) -> httpx.Response:
        final = self._retrier.run(request, _verdict)
        error = final.error
        if isinstance(error, httpx.ConnectError):
            raise ProviderError(f"provider unreachable: {error}", retryable=True) from error
        if isinstance(error, httpx.TransportError):
            raise ProviderError(
                f"no answer from the provider: {type(error).__name__}",
                retryable=True,
                ambiguous=True,
            ) from error
        response = final.unwrap()
        if response.is_success:
            return response
        code: str | None = None
        message = response.text[:200]
        try:
            data = response.json()
            if isinstance(data, dict):
                code = str(data["code"]) if data.get("code") is not None else None
                message = str(data.get("message") or message)
        except ValueError:
            pass
        status = response.status_code
        raise ProviderError(
            f"HTTP {status} from the provider: {message}",
            status=status,
            code=code,
            retryable=status == 429 or status >= 500,
            retry_after_s=retry_after_seconds(response.headers.get("Retry-After")),
        )

    def send(
        self, to: str, body: str, *, status_callback: str | None, idempotency_key: str
    ) -> ProviderMessage:
        form = {"To": to, "From": self.from_number, "Body": body}
        if status_callback:
            form["StatusCallback"] = status_callback
        headers = {"Idempotency-Key": idempotency_key}
        response = self._call(lambda: self._client.post(self._path, data=form, headers=headers))
        return _message(response.json())

    def find(self, to: str, since: datetime) -> list[ProviderMessage]:
        """Messages to ``to`` from our number created at or after ``since``: the newest page
        (Twilio lists newest first), compared by ``date_created`` here, because a message still
        queued has no ``date_sent`` and a ``DateSent`` filter would hide it."""
        params = {"To": to, "From": self.from_number, "PageSize": str(FIND_PAGE)}
        response = self._call(lambda: self._client.get(self._path, params=params))
        data = response.json()
        rows = data.get("messages") if isinstance(data, dict) else None
        found = [_message(row) for row in rows or []]
        return [m for m in found if m.created_at is None or m.created_at >= since]
