"""An alert drill on real processes, shared by the integration test and ``benchmarks/ops.py``.

A platform (core only, a temporary data directory) serves HTTP from uvicorn in a thread; the
Debian ``prometheus`` and ``alertmanager`` binaries watch it with the repository's rules and
routing, time-compressed (every range window 30 times shorter, holds of zero: promtool's unit
tests check the real ones) and with their receivers pointed at local sinks: one HTTP server for
Slack, PagerDuty and the generic webhook (told apart by path) and an aiosmtpd server for email.
The fault is a readiness check that fails, so ``/ready`` answers 503 while clients keep calling
it: ``SsmasHighErrorRate`` must fire, reach every receiver once, and resolve once cleared.
"""

from __future__ import annotations

import copy
import email
import email.policy
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import httpx
import uvicorn
import yaml
from aiosmtpd.controller import Controller

from ssmas.bootstrap import create_app
from ssmas.core.platform import Platform, build_platform
from ssmas.ops.stack import AlertStack, StackSettings, free_port
from ssmas.settings import Settings
from tests.fakes.webhook_sink import HttpSink

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "ssmas.yml"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
ALERT = "SsmasHighErrorRate"
RECEIVERS = ("slack", "webhook", "pagerduty", "email")
_RANGE = re.compile(r"\[(\d+)([smh])\]")
_SECONDS = {"s": 1, "m": 60, "h": 3600}


def compress_rules(source: Path, target: Path, factor: int = 30) -> None:
    """``source``'s rules with range windows ``factor`` times shorter and no ``for`` holds."""
    document = yaml.safe_load(source.read_text())

    def shorter(match: re.Match[str]) -> str:
        seconds = int(match.group(1)) * _SECONDS[match.group(2)]
        return f"[{max(2, seconds // factor)}s]"

    for group in document["groups"]:
        for rule in group["rules"]:
            rule["expr"] = _RANGE.sub(shorter, rule["expr"])
            if "for" in rule:
                rule["for"] = "0s"
    target.write_text(yaml.safe_dump(document, sort_keys=False))


def local_alertmanager_config(
    source: Path, target: Path, *, http_url: str, smtp_port: int, group_wait_s: float
) -> None:
    """The production routing with every receiver pointed at a local sink and short waits."""
    config = copy.deepcopy(yaml.safe_load(source.read_text()))
    config["global"] = {
        "resolve_timeout": "5m",
        "smtp_smarthost": f"127.0.0.1:{smtp_port}",
        "smtp_from": "ssmas-alerts@localhost",
        "smtp_require_tls": False,
    }
    route = config["route"]
    route["group_wait"] = f"{int(group_wait_s * 1000)}ms"
    route["group_interval"] = "1s"
    route["repeat_interval"] = "1h"
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            slack.pop("api_url_file", None)
            slack["api_url"] = f"{http_url}/slack"
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{http_url}/webhook"
        for pager in receiver.get("pagerduty_configs", []):
            pager.pop("routing_key_file", None)
            pager["routing_key"] = "drill-routing-key"
            pager["url"] = f"{http_url}/pagerduty"
    # The YAML anchors made the receivers share their lists; dump plain copies.
    target.write_text(yaml.safe_dump(copy.deepcopy(config), sort_keys=False))


class MailBox:
    """aiosmtpd handler keeping every delivered message with its arrival time."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((time.monotonic(), cast(EmailMessage, message)))
        return "250 OK"


@dataclass
class Notification:
    """One notification a receiver got: which, for which alerts, firing or resolved, when."""

    receiver: str
    status: str
    alertnames: frozenset[str]
    at: float


def http_notifications(sink: HttpSink, arrivals: list[float]) -> list[Notification]:
    """Slack, PagerDuty and webhook notifications among ``sink``'s requests."""
    found = []
    for request, at in zip(sink.requests, arrivals, strict=False):
        body = request.json()
        receiver = request.path.strip("/")
        if receiver == "webhook":
            status = body["status"]
            names = frozenset(a["labels"]["alertname"] for a in body["alerts"])
        elif receiver == "slack":
            title = body["attachments"][0]["title"]
            status = "resolved" if title.startswith("RESOLVED") else "firing"
            names = frozenset({title.split(": ", 1)[1]})
        else:
            status = "resolved" if body["event_action"] == "resolve" else "firing"
            names = frozenset({body["payload"]["summary"].split(":", 1)[0]})
        found.append(Notification(receiver, status, names, at))
    return found


def mail_notifications(box: MailBox) -> list[Notification]:
    found = []
    for at, message in box.messages:
        subject = str(message["Subject"])
        status = "resolved" if "RESOLVED" in subject else "firing"
        found.append(Notification("email", status, frozenset({subject.split(": ", 1)[1]}), at))
    return found


class TimedSink(HttpSink):
    """An :class:`HttpSink` that also notes when each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    def reply(self, request: Any) -> Any:
        self.arrivals.append(time.monotonic())
        return super().reply(request)


@dataclass
class DrillResult:
    """What the drill measured: seconds to each receiver from the first failing request and from
    the condition (the scrape that gave rate() its second 5xx sample), seconds from the fault's
    end to each resolution, and notifications per receiver."""

    fire_s: dict[str, float]
    fire_from_condition_s: dict[str, float]
    resolve_s: dict[str, float]
    firing: dict[str, int]
    resolved: dict[str, int]
    other_alerts: set[str]
    budget_s: float
    budget_from_condition_s: float
    notifications: list[Notification] = field(default_factory=list)


class ServedPlatform:
    """A core platform served by uvicorn on a free loopback port, with a fault switch."""

    def __init__(self, settings: Settings) -> None:
        self.platform: Platform = build_platform(settings)
        self.fault = threading.Event()
        self.platform.checks["drill"] = self._check
        inner = create_app(self.platform, products=())
        self.scrapes: list[float] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/metrics":
                self.scrapes.append(time.monotonic())
            await inner(scope, receive, send)

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def _check(self) -> None:
        if self.fault.is_set():
            raise RuntimeError("drill: injected fault")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServedPlatform:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the platform's server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.platform.close()


@contextmanager
def traffic(base: str, stop: threading.Event, per_s: float = 10.0) -> Iterator[None]:
    """Clients calling ``/health`` and ``/ready`` ``per_s`` times a second each."""

    def run() -> None:
        with httpx.Client(base_url=base, timeout=5.0) as client:
            while not stop.wait(1.0 / per_s):
                for path in ("/health", "/ready"):
                    with suppress(httpx.HTTPError):
                        client.get(path)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def wait_for(predicate: Any, timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return bool(predicate())


def run_drill(
    workdir: Path,
    *,
    scrape_s: float = 1.0,
    evaluate_s: float = 1.0,
    group_wait_s: float = 1.0,
    warmup_s: float = 4.0,
    settle_s: float = 3.0,
) -> DrillResult:
    """Start everything, inject the fault until every receiver has it, clear it, wait for the
    resolved notifications (and ``settle_s`` more, to catch repeats), and report."""
    workdir.mkdir(parents=True, exist_ok=True)
    rules = workdir / "rules.yml"
    compress_rules(RULES, rules)
    settings = Settings(profile="test", data_dir=workdir / "data", log_level="WARNING")
    settings.ensure_dirs()
    box = MailBox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with TimedSink() as sink, ServedPlatform(settings) as served:
            am_config = workdir / "alertmanager.yml"
            local_alertmanager_config(
                ALERTMANAGER,
                am_config,
                http_url=sink.url,
                smtp_port=smtp.port,
                group_wait_s=group_wait_s,
            )
            stack_settings = StackSettings(
                targets=[f"127.0.0.1:{served.port}"],
                rule_files=[rules],
                alertmanager_config=am_config,
                workdir=workdir / "stack",
                scrape_interval_s=scrape_s,
                evaluation_interval_s=evaluate_s,
            )
            stop = threading.Event()
            with AlertStack(stack_settings), traffic(served.url, stop):
                time.sleep(warmup_s)  # a few healthy scrapes first

                def notes() -> list[Notification]:
                    return http_notifications(sink, sink.arrivals) + mail_notifications(box)

                def got(status: str) -> bool:
                    seen = {n.receiver for n in notes() if n.status == status}
                    return seen >= set(RECEIVERS)

                started = time.monotonic()
                served.fault.set()
                fired = wait_for(lambda: got("firing"), 60)
                served.fault.clear()
                cleared = time.monotonic()
                resolved = fired and wait_for(lambda: got("resolved"), 90)
                time.sleep(settle_s)
                found = notes()
                # The condition starts when Prometheus can compute the error rate: the 5xx
                # counter is a new series, and rate() needs its second sample, from the second
                # scrape after the fault.
                seen = [t for t in served.scrapes if t > started][1]
    finally:
        smtp.stop()
    if not fired:
        raise AssertionError(f"not every receiver got the alert: {found}")
    if not resolved:
        raise AssertionError(f"not every receiver got the resolution: {found}")
    ours = [n for n in found if ALERT in n.alertnames]
    result = DrillResult(
        fire_s={},
        fire_from_condition_s={},
        resolve_s={},
        firing={r: 0 for r in RECEIVERS},
        resolved={r: 0 for r in RECEIVERS},
        other_alerts={name for n in found for name in n.alertnames} - {ALERT},
        budget_s=scrape_s + evaluate_s + group_wait_s,
        budget_from_condition_s=evaluate_s + group_wait_s,
        notifications=found,
    )
    for note in ours:
        counts = result.firing if note.status == "firing" else result.resolved
        counts[note.receiver] += 1
        if note.status == "firing":
            result.fire_s.setdefault(note.receiver, round(note.at - started, 3))
            result.fire_from_condition_s.setdefault(note.receiver, round(note.at - seen, 3))
        else:
            result.resolve_s.setdefault(note.receiver, round(note.at - cleared, 3))
    return result
