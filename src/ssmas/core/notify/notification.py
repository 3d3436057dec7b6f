"""The ``Notifier`` port: one message shape, one method, failures as ``NotifyError``."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
FieldValue = str | int | float | bool | None


class Link(BaseModel):
    """A URL worth opening from the notification (dashboard, runbook, incident)."""

    href: str
    text: str = ""


class Notification(BaseModel):
    """What happened, how bad it is and where it came from.

    ``dedup_key`` lets receivers fold repeats into one alert; ``resolved`` closes the alert that
    carried the same key (PagerDuty ``resolve``; other channels say "resolved").
    """

    title: str = Field(min_length=1, max_length=500)
    body: str = ""
    severity: Severity = "info"
    source: str = "ssmas"
    dedup_key: str | None = Field(default=None, max_length=255)
    links: list[Link] = Field(default_factory=list)
    fields: dict[str, FieldValue] = Field(default_factory=dict)
    resolved: bool = False


class NotifyError(Exception):
    """A notification could not be delivered; ``retryable`` says whether trying later may work."""

    def __init__(self, message: str, *, target: str, retryable: bool = False) -> None:
        super().__init__(f"{target}: {message}")
        self.target = target
        self.retryable = retryable


@runtime_checkable
class Notifier(Protocol):
    """Delivers a notification to one channel.

    Contract: ``send`` returns once the channel accepted the message, or raises ``NotifyError``
    after its own bounded retries; it never blocks longer than its timeouts allow.
    """

    def send(self, notification: Notification) -> None: ...
