"""The notifier port: one ``Notification`` shape and adapters for log, webhook, Slack, e-mail,
PagerDuty, plus fan-out and severity filtering. Build from URLs with ``notifier_from_urls``.
"""

from __future__ import annotations

from ssmas.core.notify.fanout import FanoutError, FanoutNotifier, SeverityFilter
from ssmas.core.notify.http_delivery import HttpDelivery
from ssmas.core.notify.log import LogNotifier
from ssmas.core.notify.notification import Link, Notification, Notifier, NotifyError, Severity
from ssmas.core.notify.pagerduty import PagerDutyNotifier
from ssmas.core.notify.slack import SlackNotifier
from ssmas.core.notify.smtp import SmtpNotifier
from ssmas.core.notify.targets import notifier_from_url, notifier_from_urls
from ssmas.core.notify.webhook import WebhookNotifier

__all__ = [
    "FanoutError",
    "FanoutNotifier",
    "HttpDelivery",
    "Link",
    "LogNotifier",
    "Notification",
    "Notifier",
    "NotifyError",
    "PagerDutyNotifier",
    "Severity",
    "SeverityFilter",
    "SlackNotifier",
    "SmtpNotifier",
    "WebhookNotifier",
    "notifier_from_url",
    "notifier_from_urls",
]
