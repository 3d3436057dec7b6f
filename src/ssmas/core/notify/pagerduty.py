"""PagerDuty Events API v2: ``trigger`` for alerts, ``resolve`` for resolved notifications."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ssmas.core.notify.http_delivery import HttpDelivery
from ssmas.core.notify.notification import Notification, NotifyError

DEFAULT_BASE_URL = "https://events.pagerduty.com"


def pagerduty_event(notification: Notification, routing_key: str) -> dict[str, Any]:
    """The Events API v2 body; a resolve needs the ``dedup_key`` of the alert it closes."""
    if notification.resolved:
        if not notification.dedup_key:
            raise NotifyError("a resolve event needs a dedup_key", target="pagerduty")
        return {
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": notification.dedup_key,
        }
    details: dict[str, Any] = dict(notification.fields)
    if notification.body:
        details["body"] = notification.body
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {
            "summary": notification.title[:1024],
            "severity": notification.severity,
            "source": notification.source,
            "custom_details": details,
        },
    }
    if notification.dedup_key:
        event["dedup_key"] = notification.dedup_key
    if notification.links:
        event["links"] = [{"href": link.href, "text": link.text} for link in notification.links]
    return event


class PagerDutyNotifier:
    """Sends events to ``{base_url}/v2/enqueue`` with one integration's routing key."""

    def __init__(
        self,
        routing_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 5.0,
        max_retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not routing_key:
            raise ValueError("PagerDuty routing_key must not be empty")
        self._routing_key = routing_key
        self.url = base_url.rstrip("/") + "/v2/enqueue"
        self._delivery = HttpDelivery(
            "pagerduty", timeout_s=timeout_s, max_retries=max_retries, sleep=sleep
        )

    def send(self, notification: Notification) -> None:
        body = json.dumps(pagerduty_event(notification, self._routing_key)).encode()
        self._delivery.post(self.url, content=body, headers={"Content-Type": "application/json"})

    def close(self) -> None:
        self._delivery.close()
