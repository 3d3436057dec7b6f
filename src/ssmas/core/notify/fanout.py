"""Composition: send to many notifiers, or only above a severity."""

from __future__ import annotations

from collections.abc import Sequence

from ssmas.core.notify.notification import (
    SEVERITY_RANK,
    Notification,
    Notifier,
    NotifyError,
    Severity,
)


class FanoutError(NotifyError):
    """Some targets of a fan-out failed; ``failures`` holds each one's error."""

    def __init__(self, failures: list[NotifyError], total: int) -> None:
        super().__init__(
            f"{len(failures)} of {total} notifiers failed: " + "; ".join(map(str, failures)),
            target="fanout",
            retryable=all(f.retryable for f in failures),
        )
        self.failures = failures


class FanoutNotifier:
    """Sends to every notifier in turn; one failing does not stop the others.

    Raises one ``FanoutError`` naming every failure once all were tried (retryable only if every
    failure was), so callers can retry or record a partial delivery.
    """

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = list(notifiers)

    def send(self, notification: Notification) -> None:
        failures: list[NotifyError] = []
        for notifier in self.notifiers:
            try:
                notifier.send(notification)
            except NotifyError as exc:
                failures.append(exc)
            except Exception as exc:
                failures.append(
                    NotifyError(f"{type(exc).__name__}: {exc}", target=type(notifier).__name__)
                )
        if failures:
            raise FanoutError(failures, len(self.notifiers))


class SeverityFilter:
    """Passes on only notifications at or above ``min_severity``; resolutions always pass."""

    def __init__(self, notifier: Notifier, min_severity: Severity) -> None:
        self.notifier = notifier
        self.min_severity = min_severity

    def send(self, notification: Notification) -> None:
        if notification.resolved or (
            SEVERITY_RANK[notification.severity] >= SEVERITY_RANK[self.min_severity]
        ):
            self.notifier.send(notification)
