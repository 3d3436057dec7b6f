"""E-mail adapter over SMTP (plain, STARTTLS or implicit TLS), one message per notification."""

from __future__ import annotations

import random
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from ssmas.core.notify.notification import Notification, NotifyError
from ssmas.core.retry import Attempt, Retrier, Retry, RetryPolicy

Security = Literal["none", "starttls", "ssl"]


def _retry_temporary(attempt: Attempt[dict[str, tuple[int, bytes]]]) -> Retry | None:
    """Retry what ``_deliver`` marks retryable: disconnects, timeouts, 4xx replies."""
    error = attempt.error
    return Retry() if isinstance(error, NotifyError) and error.retryable else None


def build_email(
    notification: Notification,
    *,
    sender: str,
    recipients: Sequence[str],
    subject_prefix: str = "[SSMAS]",
) -> EmailMessage:
    """A plain-text e-mail: title in the subject, then body, fields and links."""
    label = "RESOLVED" if notification.resolved else notification.severity.upper()
    message = EmailMessage()
    message["Subject"] = f"{subject_prefix} [{label}] {notification.title}".strip()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["X-SSMAS-Severity"] = notification.severity
    message["X-SSMAS-Source"] = notification.source
    if notification.dedup_key:
        message["X-SSMAS-Dedup-Key"] = notification.dedup_key
    lines = [notification.body, ""] if notification.body else []
    lines += [f"{key}: {value}" for key, value in notification.fields.items()]
    if notification.links:
        lines += ["", *[f"{link.text or link.href}: {link.href}" for link in notification.links]]
    lines += ["", f"-- {notification.source} ({label.lower()})"]
    message.set_content("\n".join(lines).strip() + "\n")
    return message


class SmtpNotifier:
    """Sends each notification as an e-mail; retries disconnects, timeouts and 4xx replies
    (``ssmas.core.retry``: full-jitter backoff under ``backoff_s * 2**attempt``)."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        security: Security = "starttls",
        timeout_s: float = 10.0,
        max_retries: int = 2,
        backoff_s: float = 1.0,
        subject_prefix: str = "[SSMAS]",
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not recipients:
            raise ValueError("SmtpNotifier needs at least one recipient")
        self.host, self.port = host, port
        self.sender, self.recipients = sender, list(recipients)
        self._username, self._password = username, password
        self.security = security
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.subject_prefix = subject_prefix
        policy = RetryPolicy(max_attempts=max_retries + 1, base_s=backoff_s, cap_s=60 * backoff_s)
        self._retrier = Retrier(policy, sleep=sleep, rng=rng)

    def send(self, notification: Notification) -> None:
        message = build_email(
            notification,
            sender=self.sender,
            recipients=self.recipients,
            subject_prefix=self.subject_prefix,
        )
        refused = self._retrier.call(lambda: self._deliver(message), _retry_temporary)
        if refused:
            raise NotifyError(f"recipients refused: {sorted(refused)}", target="smtp")

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=ssl.create_default_context()
            )
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        if self.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        return client

    def _deliver(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        where = f"{self.host}:{self.port}"
        try:
            with self._connect() as client:
                if self._username:
                    client.login(self._username, self._password or "")
                return client.send_message(message, to_addrs=self.recipients)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(f"{where} refused the login ({exc.smtp_code})", target="smtp")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise NotifyError(
                f"{where} refused every recipient: {codes}",
                target="smtp",
                retryable=all(400 <= c < 500 for c in codes),
            )
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or "")
            raise NotifyError(
                f"{where} answered {exc.smtp_code} {text}".strip(),
                target="smtp",
                retryable=400 <= exc.smtp_code < 500,
            )
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(
                f"{where} failed: {type(exc).__name__}: {exc}", target="smtp", retryable=True
            )
