"""Pricing's alerts through the core's notifiers: drift levels, latency, error rates, promotions.

One :class:`PricingAlerts` per process wraps the notifier built from
``SSMAS_PRICING_ALERT_URLS`` (any of the core's targets: ``log:``, webhooks, Slack, SMTP,
PagerDuty; empty: the structured log). A **condition** alert (drift, latency, error rate) has a
fixed ``dedup_key`` per condition and is sent only when its level changes, or again after
``repeat_s`` while it persists; when the condition clears, one ``resolved`` notification closes
it (PagerDuty resolves the incident with the same key). An **event** alert (a promotion, a
rollback) is sent once, keyed by the event. A receiver that fails is logged and never breaks
the caller: an alert must not stop serving or retraining.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from ssmas.core.notify import Notification, Notifier, NotifyError, Severity, notifier_from_urls
from ssmas.core.notify.notification import FieldValue

if TYPE_CHECKING:
    from ssmas.settings import PricingSettings

SOURCE = "ssmas.pricing"
_log = structlog.get_logger(__name__)
_DRIFT_SEVERITY: dict[str, Severity | None] = {
    "OK": None,
    "INFO": None,
    "WARNING": "warning",
    "CRITICAL": "critical",
}


@dataclass
class _Open:
    severity: Severity
    sent_at: float


class PricingAlerts:
    """Deduplicated pricing alerts to one notifier (thread-safe)."""

    def __init__(
        self,
        notifier: Notifier,
        *,
        repeat_s: float = 3600.0,
        latency_p99_ms: float = 50.0,
        error_rate: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.repeat_s = repeat_s
        self.latency_p99_ms = latency_p99_ms
        self.error_rate = error_rate
        self.clock = clock
        self._open: dict[str, _Open] = {}
        self._lock = threading.Lock()
        self._totals: tuple[int, int] = (0, 0)
        self.sent: int = 0

    @classmethod
    def from_settings(cls, settings: PricingSettings) -> PricingAlerts:
        return cls(
            notifier_from_urls(settings.alert_urls),
            repeat_s=settings.alert_repeat_s,
            latency_p99_ms=settings.alert_latency_p99_ms,
            error_rate=settings.alert_error_rate,
        )

    # -- conditions -----------------------------------------------------------------------

    def drift(self, level: str, score: float, *, model_version: str, n_rows: int) -> bool:
        """Drift WARNING / CRITICAL opens (or escalates) the drift alert; OK / INFO closes it."""
        severity = _DRIFT_SEVERITY.get(level)
        return self.condition(
            "pricing-drift",
            severity,
            title=f"pricing drift {level}: score {score:.3f} on model v{model_version}",
            body=f"{n_rows} captured requests compared with the training baselines",
            fields={"level": level, "score": round(score, 4), "model_version": model_version},
        )

    def latency(self, p99_ms: float | None, *, requests: int) -> bool:
        """p99 scoring latency above ``latency_p99_ms`` (critical above twice that)."""
        severity: Severity | None = None
        if p99_ms is not None and p99_ms > self.latency_p99_ms:
            severity = "critical" if p99_ms > 2 * self.latency_p99_ms else "warning"
        return self.condition(
            "pricing-latency",
            severity,
            title=f"pricing p99 latency {p99_ms or 0:.1f} ms (limit {self.latency_p99_ms:g} ms)",
            body=f"over the last {requests} requests",
            fields={"p99_ms": p99_ms, "requests": requests},
        )

    def errors(self, errors: int, requests: int) -> bool:
        """Share of failed or fallback answers above ``error_rate`` (critical above 5x)."""
        rate = errors / requests if requests else 0.0
        severity: Severity | None = None
        if requests and rate > self.error_rate:
            severity = "critical" if rate > 5 * self.error_rate else "warning"
        return self.condition(
            "pricing-errors",
            severity,
            title=f"pricing error rate {rate:.2%} (limit {self.error_rate:.2%})",
            body=f"{errors} of {requests} requests failed or fell back",
            fields={"errors": errors, "requests": requests, "rate": round(rate, 6)},
        )

    def serving(self, stats: dict[str, Any]) -> None:
        """Latency and error-rate alerts from ``ServingStats.as_dict()``: the p99 of the recent
        calls (worst variant) and the fallback share of the requests since the last look."""
        variants = stats.get("variants", {})
        requests = sum(int(v.get("requests", 0)) for v in variants.values())
        fallbacks = sum(int(v.get("fallbacks", 0)) for v in variants.values())
        p99s = [
            float(v["latency_ms"]["p99"])
            for v in variants.values()
            if v.get("latency_ms", {}).get("p99") is not None
        ]
        with self._lock:
            last_requests, last_fallbacks = self._totals
            self._totals = (requests, fallbacks)
        new_requests = max(0, requests - last_requests)
        new_fallbacks = max(0, fallbacks - last_fallbacks)
        if new_requests:
            self.latency(max(p99s) if p99s else None, requests=new_requests)
        self.errors(new_fallbacks, new_requests)

    def condition(
        self,
        key: str,
        severity: Severity | None,
        *,
        title: str,
        body: str = "",
        fields: dict[str, FieldValue] | None = None,
    ) -> bool:
        """Open, repeat, escalate or resolve the alert ``key``; True when a notification went."""
        now = self.clock()
        with self._lock:
            current = self._open.get(key)
            if severity is None:
                if current is None:
                    return False
                del self._open[key]
                resolved = True
                send_severity: Severity = current.severity
            else:
                if (
                    current is not None
                    and current.severity == severity
                    and now - current.sent_at < self.repeat_s
                ):
                    return False
                self._open[key] = _Open(severity, now)
                resolved = False
                send_severity = severity
        note = Notification(
            title=("resolved: " if resolved else "") + title,
            body=body,
            severity=send_severity,
            source=SOURCE,
            dedup_key=key,
            fields=fields or {},
            resolved=resolved,
        )
        return self._send(note)

    # -- events ---------------------------------------------------------------------------

    def event(
        self,
        key: str,
        title: str,
        *,
        body: str = "",
        severity: Severity = "info",
        fields: dict[str, FieldValue] | None = None,
    ) -> bool:
        """A one-off notification (a promotion, a rollback), keyed so receivers fold repeats."""
        return self._send(
            Notification(
                title=title,
                body=body,
                severity=severity,
                source=SOURCE,
                dedup_key=key,
                fields=fields or {},
            )
        )

    def open_alerts(self) -> dict[str, str]:
        """The conditions currently alerting, with their severity."""
        with self._lock:
            return {key: state.severity for key, state in self._open.items()}

    def _send(self, notification: Notification) -> bool:
        try:
            self.notifier.send(notification)
        except NotifyError as exc:
            _log.warning("pricing.alert_not_delivered", key=notification.dedup_key, error=str(exc))
            return False
        self.sent += 1
        return True
