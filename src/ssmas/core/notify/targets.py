"""Notifiers described by URLs, so one setting can list every channel.

Forms: ``log://``; ``webhook+https://host/path?secret=S``; ``slack+https://hooks.slack.com/...``;
``pagerduty://ROUTING_KEY@events.pagerduty.com`` (``pagerduty+http://KEY@host:port`` for a local
sink); ``smtp://user:pass@host:587?from=a@x&to=b@y,c@z&security=starttls`` (``smtps://`` for
implicit TLS). Query ``min_severity=warning|critical`` on any URL filters what it receives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast, get_args
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

from ssmas.core.notify.fanout import FanoutNotifier, SeverityFilter
from ssmas.core.notify.log import LogNotifier
from ssmas.core.notify.notification import Notifier, Severity
from ssmas.core.notify.pagerduty import PagerDutyNotifier
from ssmas.core.notify.slack import SlackNotifier
from ssmas.core.notify.smtp import Security, SmtpNotifier
from ssmas.core.notify.webhook import WebhookNotifier


def _pop(query: dict[str, list[str]], key: str) -> str | None:
    values = query.pop(key, None)
    return values[-1] if values else None


def _build(scheme: str, url: str, query: dict[str, list[str]]) -> Notifier:
    parts = urlsplit(url)
    if scheme == "log":
        return LogNotifier()
    if scheme in {"webhook+http", "webhook+https"}:
        secret = _pop(query, "secret")
        inner = urlunsplit(
            (scheme.split("+")[1], parts.netloc, parts.path, urlencode(query, doseq=True), "")
        )
        return WebhookNotifier(inner, secret)
    if scheme in {"slack+http", "slack+https"}:
        inner = urlunsplit((scheme.split("+")[1], parts.netloc, parts.path, "", ""))
        return SlackNotifier(inner)
    if scheme in {"pagerduty", "pagerduty+https", "pagerduty+http"}:
        if not parts.username:
            raise ValueError("pagerduty URL needs the routing key as user: pagerduty://KEY@host")
        base_scheme = "http" if scheme == "pagerduty+http" else "https"
        host = parts.hostname or "events.pagerduty.com"
        netloc = f"{host}:{parts.port}" if parts.port else host
        return PagerDutyNotifier(unquote(parts.username), base_url=f"{base_scheme}://{netloc}")
    if scheme in {"smtp", "smtps"}:
        sender, to = _pop(query, "from"), _pop(query, "to")
        if not parts.hostname or not sender or not to:
            raise ValueError("smtp URL needs a host, from= and to=: smtp://host:587?from=..&to=..")
        security = _pop(query, "security") or ("ssl" if scheme == "smtps" else "starttls")
        if security not in get_args(Security):
            raise ValueError(f"smtp security must be one of {get_args(Security)}, not {security!r}")
        return SmtpNotifier(
            parts.hostname,
            parts.port or (465 if security == "ssl" else 587),
            sender=sender,
            recipients=[r.strip() for r in to.split(",") if r.strip()],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            security=cast(Security, security),
        )
    raise ValueError(
        f"unknown notifier scheme {scheme!r}: use log, webhook+https, slack+https, pagerduty, "
        "smtp or smtps"
    )


def notifier_from_url(url: str) -> Notifier:
    """One notifier from its URL; ``ValueError`` with the expected form when it is malformed."""
    parts = urlsplit(url.strip())
    query = parse_qs(parts.query)
    min_severity = _pop(query, "min_severity")
    notifier = _build(parts.scheme.lower(), url.strip(), query)
    if min_severity is None:
        return notifier
    if min_severity not in get_args(Severity):
        raise ValueError(f"min_severity must be one of {get_args(Severity)}, not {min_severity!r}")
    return SeverityFilter(notifier, cast(Severity, min_severity))


def notifier_from_urls(urls: Iterable[str]) -> Notifier:
    """Every listed channel behind one fan-out; a ``LogNotifier`` when the list is empty."""
    notifiers = [notifier_from_url(u) for u in urls if u.strip()]
    if not notifiers:
        return LogNotifier()
    return notifiers[0] if len(notifiers) == 1 else FanoutNotifier(notifiers)
