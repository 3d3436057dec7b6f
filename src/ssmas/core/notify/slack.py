"""Slack incoming-webhook adapter: a Block Kit message with a plain-text fallback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from ssmas.core.notify.http_delivery import HttpDelivery
from ssmas.core.notify.notification import Notification

_EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}
_MAX_FIELDS = 10
_MAX_BUTTONS = 5


def escape(text: str) -> str:
    """Slack's mrkdwn reserves ``&``, ``<`` and ``>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _label(notification: Notification) -> str:
    return "RESOLVED" if notification.resolved else notification.severity.upper()


def slack_payload(notification: Notification) -> dict[str, Any]:
    """The JSON body Slack's incoming webhooks accept (``text`` plus ``blocks``)."""
    emoji = ":white_check_mark:" if notification.resolved else _EMOJI[notification.severity]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": f"{emoji} {notification.title}"[:150],
                "emoji": True,
            },
        }
    ]
    if notification.body:
        text = escape(notification.body)[:3000]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if notification.fields:
        items = list(notification.fields.items())[:_MAX_FIELDS]
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{escape(k)}*\n{escape(str(v))}"[:2000]}
                    for k, v in items
                ],
            }
        )
    if notification.links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": (link.text or "Open")[:75]},
                        "url": link.href,
                    }
                    for link in notification.links[:_MAX_BUTTONS]
                ],
            }
        )
    context = f"*{_label(notification)}* | {escape(notification.source)}"
    if notification.dedup_key:
        context += f" | `{escape(notification.dedup_key)}`"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": f"[{_label(notification)}] {notification.title}", "blocks": blocks}


class SlackNotifier:
    """Posts to one Slack incoming-webhook URL (the URL is the secret; it is never logged)."""

    def __init__(
        self,
        webhook_url: str,
        *,
        timeout_s: float = 5.0,
        max_retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = webhook_url
        self._delivery = HttpDelivery(
            "slack", timeout_s=timeout_s, max_retries=max_retries, sleep=sleep
        )

    def send(self, notification: Notification) -> None:
        body = json.dumps(slack_payload(notification)).encode()
        self._delivery.post(
            self._url, content=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )

    def close(self) -> None:
        self._delivery.close()
