"""The assistant's wiring: one ``AssistantRuntime`` per platform, built on demand.

The webhook needs only the channel settings and the PII cipher (``channel_settings``,
``channel_cipher``); workers need the whole runtime (``build_assistant_runtime`` wires it):
context store, Graph client, outbox, media reader, brain, notifier and the text pipeline. Both
are kept on the platform (``Platform.attach``) under :data:`CHANNEL` and :data:`RUNTIME`; nothing
here connects at import time. ``assistant_runtime(platform)`` builds once and
``release_runtime(platform)`` closes (closing the platform does too).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx

from ssmas.assistant.brain import Brain
from ssmas.assistant.context import ContextStore
from ssmas.assistant.inbound_limits import SenderLimit
from ssmas.assistant.media import MediaReader, ObjectStore, TesseractOcr
from ssmas.assistant.media.ocr import OcrEngine
from ssmas.assistant.media.speech import SpeechToText, speech_engine
from ssmas.assistant.outbox import Outbox
from ssmas.assistant.pipeline import TextPipeline
from ssmas.assistant.whatsapp.client import GraphClient
from ssmas.assistant.whatsapp.config import WhatsAppSettings
from ssmas.core.db import utcnow
from ssmas.core.notify import Notifier, notifier_from_urls
from ssmas.core.platform import Platform
from ssmas.core.security import PiiCipher, pii_cipher_from_settings
from ssmas.settings import Settings

CHANNEL = "assistant.channel"
RUNTIME = "assistant"


@dataclass(frozen=True)
class Channel:
    """What the webhook needs: the channel settings and the PII cipher of one platform."""

    wa: WhatsAppSettings
    cipher: PiiCipher


@dataclass
class AssistantRuntime:
    """Everything an assistant worker uses, built from one platform."""

    platform: Platform
    wa: WhatsAppSettings
    cipher: PiiCipher
    contexts: ContextStore
    client: GraphClient
    outbox: Outbox
    media: MediaReader
    brain: Brain
    notifier: Notifier
    pipeline: TextPipeline
    clock: Callable[[], datetime]

    def close(self) -> None:
        self.outbox.close()
        self.client.close()
        if self.pipeline.sender_limit is not None:
            self.pipeline.sender_limit.close()


def _channel(platform: Platform) -> Channel:
    return platform.runtime_or_build(
        CHANNEL,
        Channel,
        lambda p: Channel(p.settings.whatsapp, pii_cipher_from_settings(p.settings)),
    )


def channel_settings(platform: Platform) -> WhatsAppSettings:
    """The WhatsApp settings of ``platform``: ``platform.settings.whatsapp`` unless replaced
    with :func:`use_channel_settings`."""
    return _channel(platform).wa


def channel_cipher(platform: Platform) -> PiiCipher:
    """The PII cipher of this platform (from ``SSMAS_PII_KEY``, or derived in dev and test)."""
    return _channel(platform).cipher


def use_channel_settings(platform: Platform, wa: WhatsAppSettings) -> None:
    """Make ``wa`` the channel settings of ``platform`` (tests, the demo)."""
    platform.attach(CHANNEL, Channel(wa, pii_cipher_from_settings(platform.settings)))


def build_assistant_runtime(
    platform: Platform,
    *,
    wa: WhatsAppSettings | None = None,
    brain: Brain | None = None,
    notifier: Notifier | None = None,
    clock: Callable[[], datetime] = utcnow,
    transport: httpx.BaseTransport | None = None,
    ocr: OcrEngine | None = None,
    speech: SpeechToText | None = None,
    send_lease_s: float | None = None,
) -> AssistantRuntime:
    """Wire the assistant for ``platform``; ``brain`` defaults to the trained NLU + responder."""
    if wa is not None:
        use_channel_settings(platform, wa)
    wa = channel_settings(platform)
    cipher = channel_cipher(platform)
    if brain is None:
        brain = load_brain(wa.brain, platform.settings)
    contexts = ContextStore(
        platform.cache,
        cipher,
        max_turns=wa.context_turns,
        token_budget=wa.context_token_budget,
        ttl_s=wa.context_ttl_s,
    )
    client = GraphClient(wa, transport=transport)
    lease = send_lease_s if send_lease_s is not None else wa.send_lease_s
    outbox = Outbox(platform.session_factory, client, cipher, wa, clock, lease_s=lease)
    media = MediaReader(
        client,
        ObjectStore(platform.settings.data_dir / "media", cipher),
        ocr or TesseractOcr(),
        speech or speech_engine(wa),
    )
    notifier = notifier or notifier_from_urls(wa.escalation_notify_urls)
    pipeline = TextPipeline(
        platform.session_factory,
        cipher,
        contexts,
        brain,
        outbox,
        client,
        platform.bus,
        wa,
        clock,
        SenderLimit(wa, cipher),
    )
    return AssistantRuntime(
        platform, wa, cipher, contexts, client, outbox, media, brain, notifier, pipeline, clock
    )


def load_brain(spec: str, settings: Settings) -> Brain:
    """The brain named ``module:attribute`` (a callable taking the settings), or the trained one
    (a ``HotBrain``: workers swap it for a promoted NLU or a reloaded knowledge base)."""
    if not spec:
        from ssmas.assistant.brain_reload import hot_brain

        return hot_brain(settings)
    module_name, _, attribute = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute or "brain_from_settings")
    brain: Brain = factory(settings)
    return brain


def assistant_runtime(platform: Platform) -> AssistantRuntime:
    """The platform's shared runtime, built and attached on first use."""
    return platform.runtime_or_build(RUNTIME, AssistantRuntime, build_assistant_runtime)


def attach_runtime(runtime: AssistantRuntime) -> None:
    """Make ``runtime`` the one ``assistant_runtime`` returns for its platform."""
    runtime.platform.attach(RUNTIME, runtime)


def release_runtime(platform: Platform) -> None:
    """Close and forget the platform's runtime and channel settings."""
    runtime = platform.detach(RUNTIME)
    platform.detach(CHANNEL)
    if runtime is not None:
        runtime.close()
