"""An alert drill on real processes, shared by the integration test and ``benchmarks/ops.py``.

``ssmas serve`` runs in its own process (a temporary data directory, its cache on a Redis
server of the drill's own). The Debian ``prometheus`` and ``alertmanager`` binaries watch it
with the repository's rules and routing, time-compressed (every range window 30 times shorter,
holds of zero: promtool's unit tests check the real ones), the receivers pointed at local
sinks: one HTTP server for Slack, PagerDuty and the generic webhook (told apart by path) and an
aiosmtpd server for email. The fault is that Redis going down, so ``/ready`` answers 503 while
clients keep calling it: ``SsmasHighErrorRate`` must fire, reach every receiver once, and
resolve once Redis is back. Then the server is killed: ``SsmasTargetDown`` (absence of data)
must reach every receiver once.
"""

from __future__ import annotations

import copy
import email
import email.policy
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import httpx
import redis
import yaml
from aiosmtpd.controller import Controller

from ssmas.core.health import stop_processes
from ssmas.core.health import wait_healthy as core_wait_healthy
from ssmas.ops.stack import AlertStack, StackSettings, free_port
from tests.fakes.webhook_sink import HttpSink

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "ssmas.yml"
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
ALERT = "SsmasHighErrorRate"
DOWN = "SsmasTargetDown"
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
        self.messages.append((time.time(), cast(EmailMessage, message)))
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
        self.arrivals.append(time.time())
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
    # Absence of data: the server killed, SsmasTargetDown per receiver (seconds from the kill).
    down_s: dict[str, float] = field(default_factory=dict)
    down_firing: dict[str, int] = field(default_factory=dict)


class ServedPlatform:
    """``ssmas serve`` in its own process (its own metrics registry), its cache on a Redis server
    of its own; the fault stops that Redis (``/ready`` answers 503), clearing it starts it again.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.redis_port = free_port()
        self.redis: subprocess.Popen[bytes] | None = None
        self.server: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start_redis(self) -> None:
        command = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        self.redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        probe = redis.Redis(port=self.redis_port, socket_connect_timeout=0.2)
        try:
            if not wait_for(lambda: _pings(probe), 10):
                raise RuntimeError("the drill's Redis did not start")
        finally:
            probe.close()

    def _stop_redis(self) -> None:
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(timeout=10)
            self.redis = None

    def inject(self) -> None:
        self._stop_redis()

    def clear(self) -> None:
        self._start_redis()

    def __enter__(self) -> ServedPlatform:
        self._start_redis()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
        env |= {
            "PYTHONPATH": str(ROOT / "src"),
            "SSMAS_PROFILE": "test",
            "SSMAS_DATA_DIR": str(self.data_dir),
            "SSMAS_CACHE_BACKEND": "redis",
            "SSMAS_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "SSMAS_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "ssmas", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port)]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "serve.log").open("wb")
        self.server = subprocess.Popen(command, env=env, cwd=self.data_dir, stdout=log, stderr=log)
        log.close()
        if not core_wait_healthy(self.url, timeout_s=120, proc=self.server):
            self.__exit__()
            raise RuntimeError("ssmas serve did not start: " + self.server_log())
        return self

    def server_log(self) -> str:
        return (self.data_dir / "serve.log").read_text(errors="replace")[-2000:]

    def kill(self) -> None:
        """SIGKILL the server: it stops answering ``/metrics`` at once."""
        if self.server is not None:
            self.server.kill()
            self.server.wait(timeout=10)
            self.server = None

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            stop_processes([self.server])
            self.server = None
        self._stop_redis()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


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


def failure_samples(prometheus_url: str) -> list[float]:
    """When Prometheus scraped the 503s of ``/ready`` (Unix seconds, oldest first)."""
    query = 'ssmas_api_requests_total{route="/ready",status="503"}[10m]'
    answer = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=5)
    series = answer.json()["data"]["result"]
    return sorted(float(ts) for s in series for ts, _value in s["values"])


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
    kill_server: bool = True,
) -> DrillResult:
    """Start everything, inject the fault until every receiver has it, clear it, wait for the
    resolved notifications (and ``settle_s`` more, to catch repeats); then (``kill_server``)
    SIGKILL the server and wait for ``SsmasTargetDown`` everywhere; report."""
    workdir.mkdir(parents=True, exist_ok=True)
    rules = workdir / "rules.yml"
    compress_rules(RULES, rules)
    box = MailBox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        with TimedSink() as sink, ServedPlatform(workdir / "data") as served:
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
            with AlertStack(stack_settings) as stack, traffic(served.url, stop):
                time.sleep(warmup_s)  # a few healthy scrapes first

                def notes() -> list[Notification]:
                    return http_notifications(sink, sink.arrivals) + mail_notifications(box)

                def got(status: str) -> bool:
                    seen = {n.receiver for n in notes() if n.status == status}
                    return seen >= set(RECEIVERS)

                started = time.time()
                served.inject()
                fired = wait_for(lambda: got("firing"), 60)
                served.clear()
                cleared = time.time()
                resolved = fired and wait_for(lambda: got("resolved"), 90)
                time.sleep(settle_s)
                # The condition starts when Prometheus can compute the error rate: the 5xx
                # counter is a new series, and rate() needs its second sample.
                seen = failure_samples(stack.prometheus_url)[1]
                killed = time.time()
                paged = True
                if kill_server:
                    served.kill()

                    def down() -> bool:
                        hit = {n.receiver for n in notes() if DOWN in n.alertnames}
                        return hit >= set(RECEIVERS)

                    paged = wait_for(down, 60)
                    time.sleep(settle_s)
                found = notes()
    finally:
        smtp.stop()
    if not fired:
        raise AssertionError(f"not every receiver got the alert: {found}")
    if not resolved:
        raise AssertionError(f"not every receiver got the resolution: {found}")
    if not paged:
        raise AssertionError(f"not every receiver got {DOWN} after the kill: {found}")
    ours = [n for n in found if ALERT in n.alertnames]
    result = DrillResult(
        fire_s={},
        fire_from_condition_s={},
        resolve_s={},
        firing={r: 0 for r in RECEIVERS},
        resolved={r: 0 for r in RECEIVERS},
        other_alerts={name for n in found for name in n.alertnames} - {ALERT, DOWN},
        budget_s=scrape_s + evaluate_s + group_wait_s,
        budget_from_condition_s=evaluate_s + group_wait_s,
        notifications=found,
    )
    for note in found:
        if DOWN in note.alertnames and note.status == "firing":
            result.down_firing[note.receiver] = result.down_firing.get(note.receiver, 0) + 1
            result.down_s.setdefault(note.receiver, round(note.at - killed, 3))
    for note in ours:
        counts = result.firing if note.status == "firing" else result.resolved
        counts[note.receiver] += 1
        if note.status == "firing":
            result.fire_s.setdefault(note.receiver, round(note.at - started, 3))
            result.fire_from_condition_s.setdefault(note.receiver, round(note.at - seen, 3))
        else:
            result.resolve_s.setdefault(note.receiver, round(note.at - cleared, 3))
    return result
