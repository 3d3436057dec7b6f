"""Payload builders of each notifier channel, signatures, and URL-described targets."""

from __future__ import annotations

import pytest

from ssmas.core.notify import (
    FanoutNotifier,
    Link,
    LogNotifier,
    Notification,
    NotifyError,
    PagerDutyNotifier,
    SeverityFilter,
    SlackNotifier,
    SmtpNotifier,
    WebhookNotifier,
    notifier_from_url,
    notifier_from_urls,
)
from ssmas.core.notify.pagerduty import pagerduty_event
from ssmas.core.notify.slack import slack_payload
from ssmas.core.notify.smtp import build_email
from ssmas.core.notify.webhook import sign, verify

ALERT = Notification(
    title="Fill rate dropped <5%",
    body="Exchange *eu-west* fill rate is 4.1% & falling",
    severity="critical",
    source="adops.detect",
    dedup_key="fill-rate:eu-west",
    links=[Link(href="https://dash.example/incidents/9", text="Incident 9")],
    fields={"region": "eu-west", "fill_rate": 0.041, "paused": False},
)


def test_slack_blocks_escape_text_and_carry_fields_links_and_context() -> None:
    payload = slack_payload(ALERT)
    assert payload["text"] == "[CRITICAL] Fill rate dropped <5%"
    kinds = [b["type"] for b in payload["blocks"]]
    assert kinds == ["header", "section", "section", "actions", "context"]
    assert payload["blocks"][0]["text"]["text"].startswith(":rotating_light: ")
    assert payload["blocks"][1]["text"]["text"] == (
        "Exchange *eu-west* fill rate is 4.1% &amp; falling"
    )
    fields = payload["blocks"][2]["fields"]
    assert fields[0]["text"] == "*region*\neu-west" and len(fields) == 3
    button = payload["blocks"][3]["elements"][0]
    assert button["url"] == "https://dash.example/incidents/9" and button["text"]["text"] == (
        "Incident 9"
    )
    assert "`fill-rate:eu-west`" in payload["blocks"][4]["elements"][0]["text"]


def test_slack_minimal_and_resolved() -> None:
    payload = slack_payload(Notification(title="ok", resolved=True))
    assert [b["type"] for b in payload["blocks"]] == ["header", "context"]
    assert payload["text"] == "[RESOLVED] ok"
    assert payload["blocks"][0]["text"]["text"].startswith(":white_check_mark:")


def test_pagerduty_trigger_and_resolve_events() -> None:
    event = pagerduty_event(ALERT, "R0UTING")
    assert event["routing_key"] == "R0UTING" and event["event_action"] == "trigger"
    assert event["dedup_key"] == "fill-rate:eu-west"
    assert event["payload"] == {
        "summary": "Fill rate dropped <5%",
        "severity": "critical",
        "source": "adops.detect",
        "custom_details": {
            "region": "eu-west",
            "fill_rate": 0.041,
            "paused": False,
            "body": ALERT.body,
        },
    }
    assert event["links"] == [{"href": "https://dash.example/incidents/9", "text": "Incident 9"}]
    resolved = pagerduty_event(ALERT.model_copy(update={"resolved": True}), "R0UTING")
    assert resolved == {
        "routing_key": "R0UTING",
        "event_action": "resolve",
        "dedup_key": "fill-rate:eu-west",
    }
    with pytest.raises(NotifyError, match="dedup_key"):
        pagerduty_event(Notification(title="x", resolved=True), "R0UTING")


def test_email_has_subject_headers_and_plain_body() -> None:
    mail = build_email(ALERT, sender="alerts@ssmas.test", recipients=["a@x.test", "b@x.test"])
    assert mail["Subject"] == "[SSMAS] [CRITICAL] Fill rate dropped <5%"
    assert mail["To"] == "a@x.test, b@x.test"
    assert mail["X-SSMAS-Dedup-Key"] == "fill-rate:eu-west"
    assert mail["Message-ID"].endswith("@ssmas.test>")
    text = mail.get_content()
    assert "fill_rate: 0.041" in text and "Incident 9: https://dash.example/incidents/9" in text


def test_signature_round_trip_and_rejections() -> None:
    body = b'{"title":"x"}'
    signature = sign("s3cret", "1700000000", body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify("s3cret", "1700000000", body, signature, now=1700000100)
    assert not verify("other", "1700000000", body, signature, now=1700000100)
    assert not verify("s3cret", "1700000000", body + b" ", signature, now=1700000100)
    assert not verify("s3cret", "1700000000", body, signature, now=1700009999)
    assert not verify("s3cret", "yesterday", body, signature)


def test_notification_validates_its_fields() -> None:
    with pytest.raises(ValueError):
        Notification(title="")
    with pytest.raises(ValueError):
        Notification(title="x", severity="fatal")  # type: ignore[arg-type]


def test_targets_from_urls() -> None:
    assert isinstance(notifier_from_url("log://"), LogNotifier)
    hook = notifier_from_url("webhook+https://hooks.example/in?secret=abc&team=ops")
    assert isinstance(hook, WebhookNotifier) and hook.url == "https://hooks.example/in?team=ops"
    assert isinstance(
        notifier_from_url("slack+https://hooks.slack.com/services/T/B/X"), SlackNotifier
    )
    pd = notifier_from_url("pagerduty+http://KEY@127.0.0.1:9999")
    assert isinstance(pd, PagerDutyNotifier) and pd.url == "http://127.0.0.1:9999/v2/enqueue"
    mail = notifier_from_url("smtps://u:p%40ss@mail.example?from=a@x.test&to=b@x.test,c@x.test")
    assert isinstance(mail, SmtpNotifier)
    assert (mail.port, mail.security, mail.recipients) == (465, "ssl", ["b@x.test", "c@x.test"])
    filtered = notifier_from_url("log://?min_severity=critical")
    assert isinstance(filtered, SeverityFilter) and filtered.min_severity == "critical"
    assert isinstance(notifier_from_urls([]), LogNotifier)
    assert isinstance(notifier_from_urls(["log://", "log://"]), FanoutNotifier)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("teams://x", "unknown notifier scheme"),
        ("pagerduty://events.pagerduty.com", "routing key"),
        ("smtp://mail.example?from=a@x.test", "to="),
        ("smtp://mail.example?from=a@x.test&to=b@x.test&security=tls9", "security"),
        ("log://?min_severity=loud", "min_severity"),
    ],
)
def test_bad_target_urls_say_what_is_expected(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        notifier_from_url(url)
