"""Helpers for the assistant channel tests: sample payloads, signing, a scripted brain, a
platform with the Graph API fake served over real HTTP, and a drain loop."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ssmas.assistant.brain import EscalationCall, Understanding
from ssmas.assistant.context import ContextWindow
from ssmas.assistant.runtime import (
    AssistantRuntime,
    attach_runtime,
    build_assistant_runtime,
    release_runtime,
)
from ssmas.assistant.whatsapp.config import WhatsAppSettings
from ssmas.assistant.whatsapp.graph_fake import RunningFake, start_graph_fake
from ssmas.assistant.workers import assistant_subscriptions
from ssmas.core.notify import Notification
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security import sign_sha256
from ssmas.core.worker import WorkerStats, drain_once
from ssmas.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "whatsapp"
APP_SECRET = "test_app_secret_123"
BUSINESS_ID = "106540352242922"


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def signature(body: bytes, secret: str = APP_SECRET) -> str:
    return str(sign_sha256(secret.encode(), body))


def text_delivery(
    phone: str, text: str, message_id: str, *, at: datetime | None = None, name: str = "Ana"
) -> bytes:
    """A one-message WhatsApp delivery with a fresh timestamp."""
    stamp = int((at or datetime.now(UTC)).timestamp())
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": BUSINESS_ID},
        "contacts": [{"profile": {"name": name}, "wa_id": phone}],
        "messages": [
            {
                "from": phone,
                "id": message_id,
                "timestamp": str(stamp),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(body).encode()


class ScriptedBrain:
    """A stand-in brain with obvious rules: Spanish by keywords, escalate on anger words."""

    SPANISH = ("hola", "pedido", "quiero", "gracias", "dónde", "factura")
    ANGRY = ("manager", "cancel", "cancelar", "supervisor", "refund", "devuelvan")

    def __init__(self) -> None:
        self.seen: list[str] = []

    def understand(self, text: str, hint_language: str | None) -> Understanding:
        self.seen.append(text)
        lowered = text.lower()
        spanish = any(w in lowered for w in self.SPANISH)
        language = "es" if spanish else (hint_language or "en")
        intent = "order_status" if ("order" in lowered or "pedido" in lowered) else "other"
        return Understanding(language, intent, 0.9, "neutral", 0.0)

    def judge(self, text: str, u: Understanding, window: ContextWindow) -> EscalationCall:
        if any(w in text.lower() for w in self.ANGRY):
            return EscalationCall(True, 85, ["keywords"], "high", "billing")
        return EscalationCall(False, 0, [], "low", "general")

    def reply(self, text: str, u: Understanding, window: ContextWindow) -> str:
        return f"[{u.language}] answer about {u.intent} (turns {len(window.turns)})"


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


@dataclass
class Channel:
    """A platform, its assistant runtime and a Graph fake, wired together."""

    platform: Platform
    runtime: AssistantRuntime
    fake: RunningFake
    brain: Any  # ScriptedBrain unless open_channel was given another
    notifier: RecordingNotifier
    stats: WorkerStats

    def drain(self, rounds: int = 6) -> int:
        """Run every assistant consumer until nothing is left (or ``rounds`` idle passes)."""
        subs = assistant_subscriptions(self.platform, runtime=self.runtime)
        total, idle = 0, 0
        while idle < 2 and rounds > 0:
            done = drain_once(self.platform.bus, subs, "test", self.stats)
            total += done
            idle = idle + 1 if done == 0 else 0
            rounds -= 1 if done == 0 else 0
        return total


@contextmanager
def open_channel(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    real_notifiers: bool = False,
    brain: Any = None,
    **wa_overrides: Any,
) -> Iterator[Channel]:
    """The channel on ``settings``; ``brain``: the one to run (default: ``ScriptedBrain``);
    escalations go to a recording notifier, or with ``real_notifiers`` to the ones
    ``escalation_notify_urls`` names (as in production)."""
    fake = start_graph_fake()
    platform = build_platform(settings)
    wa = WhatsAppSettings(
        graph_url=fake.graph_url,
        recipient_rate_per_s=1000.0,
        pair_limit_backoff_s=0.01,
        retry_backoff_s=0.01,
        **wa_overrides,
    )
    brain, notifier = brain or ScriptedBrain(), RecordingNotifier()
    runtime = build_assistant_runtime(
        platform,
        wa=wa,
        brain=brain,
        notifier=None if real_notifiers else notifier,
        clock=clock or (lambda: datetime.now(UTC)),
    )
    attach_runtime(runtime)
    try:
        yield Channel(platform, runtime, fake, brain, notifier, WorkerStats())
    finally:
        release_runtime(platform)
        platform.close()
        fake.stop()


def sample_clock(name: str) -> Callable[[], datetime]:
    """A clock a minute after a sample's newest message (inside the 24-hour window)."""
    data = json.loads(sample_bytes(name))
    stamps = [
        int(m["timestamp"])
        for e in data["entry"]
        for c in e["changes"]
        for m in c["value"].get("messages", []) + c["value"].get("statuses", [])
    ]
    at = datetime.fromtimestamp(max(stamps), tz=UTC) + timedelta(minutes=1)
    return lambda: at


def scripted_brain(settings: Settings) -> ScriptedBrain:
    """Factory named by ``SSMAS_WHATSAPP_BRAIN`` in the end-to-end tests' worker processes."""
    return ScriptedBrain()
