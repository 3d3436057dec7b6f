"""Firing alerts and silences, read from Alertmanager's API (v2) when one is configured.

:class:`AlertmanagerClient` is the only code that speaks to Alertmanager: ``alerts()`` lists the
alerts it holds (active, silenced or inhibited), ``silence()`` mutes alerts matching labels for a
while and ``expire()`` lifts a silence. Without Alertmanager the platform still knows its own
health: :func:`alerts_from_checks` turns failing readiness checks into alerts of the same shape,
so the dashboard shows one list either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

__all__ = [
    "Alert",
    "AlertmanagerClient",
    "AlertmanagerError",
    "alerts_from_checks",
    "parse_matchers",
]

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
_MATCHER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(=~|!~|!=|=)(.*)$")


class AlertmanagerError(RuntimeError):
    """Alertmanager did not answer, or answered something other than what its API documents."""


@dataclass(frozen=True)
class Alert:
    """One alert: its name, labels, annotations, state and when it started."""

    name: str
    severity: str
    state: str
    summary: str
    starts_at: datetime | None
    labels: dict[str, str] = field(default_factory=dict)
    source: str = "alertmanager"

    @property
    def rank(self) -> tuple[int, str]:
        return SEVERITY_ORDER.get(self.severity, 3), self.name


def _time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _alert(raw: Mapping[str, Any]) -> Alert:
    labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
    annotations = raw.get("annotations") or {}
    status = raw.get("status") or {}
    return Alert(
        name=labels.get("alertname", "unnamed"),
        severity=labels.get("severity", "none"),
        state=str(status.get("state", "unknown")),
        summary=str(annotations.get("summary") or annotations.get("description") or ""),
        starts_at=_time(raw.get("startsAt")),
        labels=labels,
    )


def parse_matchers(texts: Sequence[str]) -> list[dict[str, object]]:
    """``["alertname=X", "job=~ssmas.*"]`` as Alertmanager silence matchers; ``ValueError`` on a
    text that is not ``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex``."""
    matchers: list[dict[str, object]] = []
    for text in texts:
        found = _MATCHER.match(text.strip())
        if not found:
            raise ValueError(f"matcher {text!r} must look like name=value (or !=, =~, !~)")
        name, op, value = found.groups()
        matchers.append(
            {"name": name, "value": value, "isRegex": "~" in op, "isEqual": not op.startswith("!")}
        )
    if not matchers:
        raise ValueError("a silence needs at least one matcher")
    return matchers


class AlertmanagerClient:
    """Alertmanager's API v2 at ``base_url`` (for example ``http://127.0.0.1:9093``)."""

    def __init__(self, base_url: str, *, timeout_s: float = 2.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}/api/v2{path}"
        try:
            response = httpx.request(method, url, timeout=self.timeout_s, **kwargs)
        except httpx.HTTPError as exc:
            raise AlertmanagerError(f"Alertmanager at {self.base_url} did not answer: {exc}")
        if response.status_code >= 400:
            raise AlertmanagerError(
                f"Alertmanager answered {response.status_code}: {response.text.strip()[:200]}"
            )
        try:
            return response.json() if response.content else None
        except ValueError:
            raise AlertmanagerError("Alertmanager answered something that is not JSON")

    def alerts(self, *, active: bool = True, silenced: bool = False) -> list[Alert]:
        """Alerts Alertmanager holds (active ones by default), most severe first."""
        params = {"active": active, "silenced": silenced, "inhibited": False}
        raw = self._request("GET", "/alerts", params=params)
        if not isinstance(raw, list):
            raise AlertmanagerError("Alertmanager's alert list is not a list")
        return sorted((_alert(a) for a in raw if isinstance(a, dict)), key=lambda a: a.rank)

    def silence(
        self,
        matchers: Sequence[str],
        *,
        duration: timedelta,
        comment: str,
        created_by: str = "ssmas",
        now: datetime | None = None,
    ) -> str:
        """Mute alerts matching every one of ``matchers`` for ``duration``; the silence's id."""
        if duration <= timedelta(0):
            raise ValueError("a silence must last a positive time")
        start = now or datetime.now(UTC)
        body = {
            "matchers": parse_matchers(matchers),
            "startsAt": start.isoformat(),
            "endsAt": (start + duration).isoformat(),
            "createdBy": created_by,
            "comment": comment or "silenced with ssmas ops silence",
        }
        answer = self._request("POST", "/silences", json=body)
        if not isinstance(answer, dict) or "silenceID" not in answer:
            raise AlertmanagerError("Alertmanager did not return a silence id")
        return str(answer["silenceID"])

    def expire(self, silence_id: str) -> None:
        """Lift a silence at once."""
        self._request("DELETE", f"/silence/{silence_id}")


def alerts_from_checks(checks: Sequence[tuple[str, bool, str]]) -> list[Alert]:
    """One critical ``SsmasCheckFailing`` alert per failing ``(name, ok, detail)`` check."""
    now = datetime.now(UTC)
    return [
        Alert(
            name="SsmasCheckFailing",
            severity="critical",
            state="active",
            summary=f"readiness check {name!r} fails: {detail}",
            starts_at=now,
            labels={"check": name, "severity": "critical", "category": "AVAILABILITY"},
            source="platform",
        )
        for name, ok, detail in checks
        if not ok
    ]
