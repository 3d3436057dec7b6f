"""Generic JSON webhook with an HMAC-SHA256 signature over timestamp and body."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ssmas.core.notify.http_delivery import HttpDelivery
from ssmas.core.notify.notification import Notification

SIGNATURE_HEADER = "X-SSMAS-Signature"
TIMESTAMP_HEADER = "X-SSMAS-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC(secret, ``"<timestamp>." + body``); the time stops replays."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """True when ``signature`` matches and ``timestamp`` is within ``tolerance_s`` of now."""
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


def webhook_payload(notification: Notification, sent_at: datetime) -> dict[str, Any]:
    payload = notification.model_dump(mode="json")
    payload["sent_at"] = sent_at.isoformat()
    return payload


class WebhookNotifier:
    """POSTs the notification as JSON; signs it when a ``secret`` is configured."""

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        timeout_s: float = 5.0,
        max_retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._secret = secret
        self._headers = dict(headers or {})
        self._clock = clock
        self._delivery = HttpDelivery(
            "webhook", timeout_s=timeout_s, max_retries=max_retries, sleep=sleep
        )

    def send(self, notification: Notification) -> None:
        now = self._clock()
        payload = webhook_payload(notification, datetime.fromtimestamp(now, UTC))
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **self._headers}
        if notification.dedup_key:
            headers["Idempotency-Key"] = notification.dedup_key
        if self._secret:
            timestamp = str(int(now))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        self._delivery.post(self.url, content=body, headers=headers)

    def close(self) -> None:
        self._delivery.close()
