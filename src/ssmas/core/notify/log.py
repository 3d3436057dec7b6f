"""Notifier that writes one structured log event per notification; the embedded default."""

from __future__ import annotations

from typing import Any

import structlog

from ssmas.core.notify.notification import Notification

_LEVEL = {"info": "info", "warning": "warning", "critical": "error"}


class LogNotifier:
    """Logs ``notification`` at a level matching its severity (critical logs as error)."""

    def __init__(self, logger: Any = None) -> None:
        self._log = logger or structlog.get_logger("ssmas.notify")

    def send(self, notification: Notification) -> None:
        method = getattr(self._log, _LEVEL[notification.severity])
        method(
            "notification",
            title=notification.title,
            body=notification.body,
            severity=notification.severity,
            source=notification.source,
            dedup_key=notification.dedup_key,
            resolved=notification.resolved,
            links=[link.href for link in notification.links],
            fields=notification.fields,
        )
