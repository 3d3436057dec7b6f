"""Webhook, Slack and PagerDuty notifiers against a real local HTTP sink."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ssmas.core.notify import (
    FanoutError,
    FanoutNotifier,
    Link,
    Notification,
    NotifyError,
    PagerDutyNotifier,
    SlackNotifier,
    WebhookNotifier,
    notifier_from_url,
)
from ssmas.core.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.fakes.webhook_sink import HttpSink, Reply

ALERT = Notification(
    title="Model drift on pricing",
    body="PSI 0.31 on feature floor_eur",
    severity="warning",
    source="pricing.monitor",
    dedup_key="drift:pricing",
    links=[Link(href="http://127.0.0.1/drift", text="Drift report")],
    fields={"psi": 0.31},
)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture()
def sink() -> Iterator[HttpSink]:
    with HttpSink() as server:
        yield server


def test_webhook_posts_signed_json(sink: HttpSink) -> None:
    notifier = WebhookNotifier(
        f"{sink.url}/hooks/ssmas", "s3cret", headers={"X-Team": "ops"}, clock=lambda: 1_700_000_000
    )
    notifier.send(ALERT)
    [request] = sink.requests
    assert request.method == "POST" and request.path == "/hooks/ssmas"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-team"] == "ops"
    assert request.headers["idempotency-key"] == "drift:pricing"
    timestamp = request.headers[TIMESTAMP_HEADER.lower()]
    assert timestamp == "1700000000"
    assert verify(
        "s3cret", timestamp, request.body, request.headers[SIGNATURE_HEADER.lower()], now=1.7e9
    )
    body = request.json()
    assert body["title"] == ALERT.title and body["fields"] == {"psi": 0.31}
    assert body["links"] == [{"href": "http://127.0.0.1/drift", "text": "Drift report"}]
    assert body["sent_at"] == "2023-11-14T22:13:20+00:00"


def test_unsigned_webhook_has_no_signature(sink: HttpSink) -> None:
    WebhookNotifier(sink.url).send(Notification(title="plain"))
    assert SIGNATURE_HEADER.lower() not in sink.requests[0].headers


def test_webhook_retries_5xx_and_honours_retry_after(sink: HttpSink) -> None:
    sink.script(Reply(503), Reply(429, headers={"Retry-After": "4"}), Reply(204, b""))
    sleeps = Sleeps()
    WebhookNotifier(sink.url, max_retries=2, sleep=sleeps).send(ALERT)
    assert len(sink.requests) == 3
    assert len(sleeps) == 2 and 0.0 <= sleeps[0] <= 0.5 and sleeps[1] == 4.0


def test_webhook_gives_up_after_retries_and_says_so(sink: HttpSink) -> None:
    sink.script(*[Reply(500, b"boom")] * 3)
    with pytest.raises(NotifyError, match="webhook: HTTP 500") as info:
        WebhookNotifier(sink.url, max_retries=2, sleep=Sleeps()).send(ALERT)
    assert info.value.retryable
    assert len(sink.requests) == 3


def test_webhook_timeout_is_reported(sink: HttpSink) -> None:
    sink.script(Reply(200, delay_s=1.0), Reply(200, delay_s=1.0))
    notifier = WebhookNotifier(sink.url, timeout_s=0.2, max_retries=1, sleep=Sleeps())
    with pytest.raises(NotifyError, match=r"did not answer within 0\.2s"):
        notifier.send(ALERT)


def test_client_error_is_not_retried(sink: HttpSink) -> None:
    sink.script(Reply(404, b"no_service"))
    with pytest.raises(NotifyError, match="slack: HTTP 404") as info:
        SlackNotifier(f"{sink.url}/services/T/B/X", sleep=Sleeps()).send(ALERT)
    assert not info.value.retryable and len(sink.requests) == 1
    assert "/services/T/B/X" not in str(info.value)


def test_slack_sends_block_kit(sink: HttpSink) -> None:
    SlackNotifier(f"{sink.url}/services/T/B/X").send(ALERT)
    body = sink.requests[0].json()
    assert body["text"] == "[WARNING] Model drift on pricing"
    assert body["blocks"][0]["type"] == "header"
    assert sink.requests[0].path == "/services/T/B/X"


def test_pagerduty_trigger_then_resolve(sink: HttpSink) -> None:
    sink.default = Reply(202, {"status": "success", "dedup_key": "drift:pricing"})
    pager = PagerDutyNotifier("ROUTING-KEY", base_url=sink.url)
    pager.send(ALERT)
    pager.send(ALERT.model_copy(update={"resolved": True}))
    trigger, resolve = (r.json() for r in sink.requests)
    assert {r.path for r in sink.requests} == {"/v2/enqueue"}
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "ROUTING-KEY"
    assert trigger["payload"]["severity"] == "warning"
    assert trigger["payload"]["summary"] == "Model drift on pricing"
    assert resolve == {
        "routing_key": "ROUTING-KEY",
        "event_action": "resolve",
        "dedup_key": "drift:pricing",
    }


def test_pagerduty_invalid_event_is_an_error(sink: HttpSink) -> None:
    sink.script(Reply(400, {"status": "invalid event", "message": "Event object is invalid"}))
    with pytest.raises(NotifyError, match="pagerduty: HTTP 400"):
        PagerDutyNotifier("K", base_url=sink.url).send(ALERT)


def test_fanout_over_real_channels_and_url_config(sink: HttpSink) -> None:
    fanout = FanoutNotifier(
        [
            notifier_from_url(f"webhook+{sink.url}/a?secret=x"),
            notifier_from_url(f"pagerduty+http://KEY@{sink.url.removeprefix('http://')}"),
            SlackNotifier("http://127.0.0.1:9/unreachable", max_retries=0),
        ]
    )
    with pytest.raises(FanoutError, match="1 of 3 notifiers failed: slack: cannot reach"):
        fanout.send(ALERT)
    assert [r.path for r in sink.requests] == ["/a", "/v2/enqueue"]
    assert json.loads(sink.requests[1].body)["routing_key"] == "KEY"
