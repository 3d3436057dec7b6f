"""WhatsApp send pacing shared through the real Redis: two clients, and two processes, together
stay within one business number's and one recipient's buckets.

The buckets refill at 0.001 token/s, so nothing refills while a test runs: a sleep request
means a bucket was empty. The injected ``sleep`` raises instead of sleeping, which stops the
send before it reaches the (in-memory) Graph API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from ssmas.assistant.whatsapp.client import GraphClient, Pacer
from ssmas.settings import Settings, WhatsAppSettings

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]


class Blocked(Exception):
    """The pacer asked to wait: a bucket is empty."""


def refuse_to_sleep(seconds: float) -> None:
    raise Blocked(seconds)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(json.loads(request.content)["to"])
        return httpx.Response(200, json={"messages": [{"id": f"wamid.{len(self.sent)}"}]})


def channel(redis_url: str, **overrides: Any) -> WhatsAppSettings:
    options: dict[str, Any] = {
        "pacing_backend": "redis",
        "pacing_redis_url": redis_url,
        "send_rate_per_s": 0.001,
        "send_burst": 5,
        "recipient_rate_per_s": 0.001,
        "recipient_burst": 2,
        "app_secret": "pacing-test-secret",
        **overrides,
    }
    return WhatsAppSettings(**options)


def client(wa: WhatsAppSettings, recorder: Recorder) -> GraphClient:
    return GraphClient(wa, transport=httpx.MockTransport(recorder), sleep=refuse_to_sleep)


def sends_until_blocked(graph: GraphClient, recipients: list[str]) -> int:
    done = 0
    for to in recipients:
        try:
            graph.send_text(to, "hola")
        except Blocked:
            return done
        done += 1
    return done


def test_two_clients_share_the_number_bucket(redis_url: str) -> None:
    recorder = Recorder()
    first, second = client(channel(redis_url), recorder), client(channel(redis_url), recorder)
    try:
        assert sends_until_blocked(first, [f"3460000000{i}" for i in range(3)]) == 3
        # per process, the second client would have five tokens of its own; shared, two are left
        assert sends_until_blocked(second, [f"3460000001{i}" for i in range(5)]) == 2
        assert sends_until_blocked(first, ["34600000020"]) == 0
        assert len(recorder.sent) == 5
    finally:
        first.close()
        second.close()


def test_two_clients_share_each_recipients_bucket(redis_url: str) -> None:
    recorder = Recorder()
    wa = channel(redis_url, send_burst=100)
    first, second = client(wa, recorder), client(wa, recorder)
    try:
        assert sends_until_blocked(first, ["34611111111"]) == 1
        assert sends_until_blocked(second, ["34611111111", "34611111111"]) == 1
        assert sends_until_blocked(second, ["34622222222"]) == 1  # another person: own bucket
        assert recorder.sent == ["34611111111", "34611111111", "34622222222"]
    finally:
        first.close()
        second.close()


def test_redis_keys_name_the_number_but_never_the_phone(redis_url: str) -> None:
    import redis

    recorder = Recorder()
    graph = client(channel(redis_url), recorder)
    try:
        graph.send_text("34633333333", "hola")
    finally:
        graph.close()
    keys = [k.decode() for k in redis.Redis.from_url(redis_url).keys("ssmas:wa-pace:*")]
    assert "ssmas:wa-pace:106540352242922:number" in keys
    assert len(keys) == 2 and not any("34633333333" in k for k in keys)


def test_another_process_and_this_one_share_the_limit(redis_url: str) -> None:
    """A child process, configured only through the environment (pacing follows the platform
    rate-limit backend), takes the number's burst; then this process is held back."""
    child = (
        "import sys\n"
        "from ssmas.assistant.whatsapp.client import Pacer\n"
        "from ssmas.settings import Settings\n"
        "class Blocked(Exception): pass\n"
        "def sleep(s): raise Blocked()\n"
        "pacer = Pacer.from_settings(Settings().whatsapp, sleep=sleep)\n"
        "n = 0\n"
        "try:\n"
        "    while n < 100:\n"
        "        pacer.wait(f'3465555{n:04d}'); n += 1\n"
        "except Blocked:\n"
        "    pass\n"
        "pacer.close()\n"
        "print(n)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "SSMAS_PROFILE": "test",
        "SSMAS_RATE_LIMIT_BACKEND": "redis",
        "SSMAS_REDIS_URL": redis_url,
        "SSMAS_WHATSAPP_SEND_RATE_PER_S": "0.001",
        "SSMAS_WHATSAPP_SEND_BURST": "4",
        "SSMAS_WHATSAPP_APP_SECRET": "pacing-test-secret",
    }
    done = subprocess.run(
        [sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"
    recorder = Recorder()
    settings = Settings(
        profile="test",
        rate_limit_backend="redis",
        redis_url=redis_url,
        whatsapp=channel(redis_url, send_burst=4, pacing_backend=None, pacing_redis_url=None),
    )
    assert settings.whatsapp.pacing_backend == "redis"
    graph = client(settings.whatsapp, recorder)
    try:
        assert sends_until_blocked(graph, ["34655559999"]) == 0
    finally:
        graph.close()


def test_without_redis_each_process_still_paces_itself() -> None:
    """Redis unreachable: the pacer falls back to in-process buckets instead of failing open."""
    wa = WhatsAppSettings(
        pacing_backend="redis",
        pacing_redis_url="redis://127.0.0.1:1/0",
        send_rate_per_s=0.001,
        send_burst=3,
    )
    pacer = Pacer.from_settings(wa, sleep=refuse_to_sleep)
    try:
        for i in range(3):
            assert pacer.wait(f"3467777000{i}") == 0.0
        with pytest.raises(Blocked):
            pacer.wait("34677770009")
    finally:
        pacer.close()
