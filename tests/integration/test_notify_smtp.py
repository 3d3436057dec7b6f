"""SmtpNotifier against a real local SMTP server."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from ssmas.core.notify import Notification, NotifyError, SmtpNotifier, notifier_from_url
from tests.fakes.smtp_sink import SmtpSink

ALERT = Notification(
    title="Backup drill failed",
    body="Restore of ssmas.db did not verify.",
    severity="critical",
    source="ops.backup",
    dedup_key="backup:nightly",
    fields={"attempt": 3},
)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture()
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink(username="alerts", password="pw") as server:
        yield server


def notifier(smtp: SmtpSink, sleeps: Sleeps | None = None, **overrides: object) -> SmtpNotifier:
    options: dict[str, object] = {
        "sender": "alerts@ssmas.test",
        "recipients": ["oncall@ssmas.test", "lead@ssmas.test"],
        "username": "alerts",
        "password": "pw",
        "security": "none",
        "timeout_s": 2.0,
        "max_retries": 2,
        "sleep": Sleeps() if sleeps is None else sleeps,
        **overrides,
    }
    return SmtpNotifier(smtp.host, smtp.port, **options)  # type: ignore[arg-type]


def test_mail_is_delivered_with_auth_and_content(smtp: SmtpSink) -> None:
    notifier(smtp).send(ALERT)
    [mail] = smtp.mails
    assert mail.mail_from == "alerts@ssmas.test"
    assert mail.rcpt_to == ["oncall@ssmas.test", "lead@ssmas.test"]
    assert mail.auth_user == "alerts"
    message = mail.message()
    assert message["Subject"] == "[SSMAS] [CRITICAL] Backup drill failed"
    assert message["X-SSMAS-Dedup-Key"] == "backup:nightly"
    assert "Restore of ssmas.db did not verify." in message.get_content()
    assert "attempt: 3" in message.get_content()


def test_temporary_failure_is_retried(smtp: SmtpSink) -> None:
    smtp.fail_next("MAIL", 451, "try again later")
    sleeps = Sleeps()
    notifier(smtp, sleeps, backoff_s=0.5, rng=random.Random(3)).send(ALERT)
    assert len(smtp.mails) == 1
    assert smtp.connections == 2 and sleeps == [random.Random(3).uniform(0, 0.5)]


def test_permanent_failure_is_not_retried(smtp: SmtpSink) -> None:
    smtp.fail_next("DATA", 554, "rejected as spam")
    with pytest.raises(NotifyError, match="554 rejected as spam") as info:
        notifier(smtp).send(ALERT)
    assert not info.value.retryable and smtp.mails == [] and smtp.connections == 1


def test_bad_login_is_a_clear_error(smtp: SmtpSink) -> None:
    with pytest.raises(NotifyError, match="refused the login"):
        notifier(smtp, password="wrong").send(ALERT)
    assert smtp.connections == 1


def test_all_recipients_refused_temporarily_retries_then_fails(smtp: SmtpSink) -> None:
    for _ in range(3):
        smtp.fail_next("RCPT", 450, "mailbox busy")
    with pytest.raises(NotifyError, match="refused every recipient") as info:
        notifier(smtp, recipients=["only@ssmas.test"]).send(ALERT)
    assert info.value.retryable and smtp.connections == 3


def test_partial_refusal_delivers_to_the_rest_and_reports(smtp: SmtpSink) -> None:
    smtp.fail_next("RCPT", 550, "no such user")
    with pytest.raises(NotifyError, match="recipients refused"):
        notifier(smtp).send(ALERT)
    assert smtp.mails[0].rcpt_to == ["lead@ssmas.test"]


def test_unreachable_server_is_retryable() -> None:
    with SmtpSink() as gone:
        host, port = gone.host, gone.port
    sleeps = Sleeps()
    with pytest.raises(NotifyError, match="failed") as info:
        SmtpNotifier(
            host,
            port,
            sender="a@x.test",
            recipients=["b@x.test"],
            security="none",
            max_retries=1,
            sleep=sleeps,
        ).send(ALERT)
    assert info.value.retryable and len(sleeps) == 1


def test_configured_from_url(smtp: SmtpSink) -> None:
    url = (
        f"smtp://alerts:pw@{smtp.host}:{smtp.port}"
        "?from=alerts@ssmas.test&to=oncall@ssmas.test&security=none"
    )
    notifier_from_url(url).send(ALERT)
    assert smtp.mails[0].rcpt_to == ["oncall@ssmas.test"]
