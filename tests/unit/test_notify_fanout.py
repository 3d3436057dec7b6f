"""Fan-out, severity filtering and the log notifier, with in-memory notifiers."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from ssmas.core.notify import (
    FanoutError,
    FanoutNotifier,
    LogNotifier,
    Notification,
    Notifier,
    NotifyError,
    SeverityFilter,
)


class Recording:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


class Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def send(self, notification: Notification) -> None:
        raise self.error


WARN = Notification(title="disk 85%", severity="warning", source="ops")


def test_adapters_satisfy_the_port() -> None:
    for notifier in (
        Recording(),
        LogNotifier(),
        FanoutNotifier([]),
        SeverityFilter(Recording(), "info"),
    ):
        assert isinstance(notifier, Notifier)


def test_fanout_delivers_to_all_even_when_one_fails() -> None:
    first, last = Recording(), Recording()
    broken = Failing(NotifyError("HTTP 500", target="slack", retryable=True))
    fanout = FanoutNotifier([first, broken, last])
    with pytest.raises(FanoutError) as info:
        fanout.send(WARN)
    assert first.sent == [WARN] and last.sent == [WARN]
    assert "1 of 3 notifiers failed" in str(info.value) and "slack: HTTP 500" in str(info.value)
    assert info.value.retryable
    assert [f.target for f in info.value.failures] == ["slack"]


def test_fanout_wraps_unexpected_errors_and_marks_them_permanent() -> None:
    fanout = FanoutNotifier([Failing(RuntimeError("bug")), Recording()])
    with pytest.raises(FanoutError) as info:
        fanout.send(WARN)
    assert not info.value.retryable
    assert "Failing: RuntimeError: bug" in str(info.value)


def test_fanout_with_all_ok_returns_quietly() -> None:
    sink = Recording()
    FanoutNotifier([sink, sink]).send(WARN)
    assert len(sink.sent) == 2


def test_severity_filter_drops_lower_and_lets_resolutions_through() -> None:
    sink = Recording()
    pager = SeverityFilter(sink, "critical")
    pager.send(WARN)
    pager.send(WARN.model_copy(update={"severity": "critical"}))
    pager.send(WARN.model_copy(update={"resolved": True}))
    assert [(n.severity, n.resolved) for n in sink.sent] == [("critical", False), ("warning", True)]


def test_log_notifier_logs_at_the_severity_level() -> None:
    with capture_logs() as logs:
        LogNotifier().send(WARN)
        LogNotifier().send(WARN.model_copy(update={"severity": "critical"}))
    assert [entry["log_level"] for entry in logs] == ["warning", "error"]
    assert logs[0]["event"] == "notification" and logs[0]["title"] == "disk 85%"
    assert logs[0]["source"] == "ops"
