"""Target handlers: what a matched rule's targets do, found by the target's ``type``.

A handler is ``handler(call) -> None``; it returns once the target accepted the input, or raises
(``TargetFailed(retryable=False)`` for an input it will never accept; anything else is tried
again, then dead-lettered). Delivery is at least once, so a handler must be idempotent on
``call.key`` (the same key for every redelivery of the same event, rule and target).

Built in: ``notify`` (the platform's notifiers, ``ssmas.core.notify``), ``webhook`` (HTTP POST
through ``ssmas.core.notify.HttpDelivery``, ``Idempotency-Key`` header) and ``topic`` (publish on
a bus topic, keyed so a repeat stores nothing). Other products register their own:
``target_registry(platform).register("incident", handler)`` in a running process, or a line in
:data:`PLUGIN_TARGETS` (``(type, "module:factory")``, ``factory(platform) -> handler``) so that
every process, the dispatcher worker and ``ssmas adops replay`` included, has it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ssmas.adops.events.rules import TargetSpec
from ssmas.core.bus import Bus
from ssmas.core.bus.base import MAX_BATCH
from ssmas.core.notify import HttpDelivery, Notification, Notifier, notifier_from_urls
from ssmas.core.product import resolve

if TYPE_CHECKING:
    from ssmas.core.platform import Platform

__all__ = [
    "PLUGIN_TARGETS",
    "Handler",
    "TargetCall",
    "TargetFailed",
    "TargetRegistry",
    "builtin_registry",
    "target_registry",
]

# (target type, "module:factory") registered in every process; factory(platform) -> Handler.
PLUGIN_TARGETS: tuple[tuple[str, str], ...] = (
    ("incident", "ssmas.adops.incident_target:incident_target"),
)
RUNTIME = "adops.event_targets"


class TargetFailed(Exception):
    """A target refused or failed; ``retryable`` says whether another try may work."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class TargetCall:
    """One delivery of one event to one target of one rule."""

    rule: str
    target: TargetSpec
    event: dict[str, Any]  # the event's JSON (``Event.document()``)
    input: Any  # what the target receives after input path / transformer
    key: str  # idempotency key: the same for every redelivery of this (event, rule, target)


Handler = Callable[[TargetCall], None]


class TargetRegistry:
    """Handlers by target type; thread-safe registration, lookups without a lock."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []
        self._flushers: list[Callable[[], None]] = []

    def register(self, type_name: str, handler: Handler) -> None:
        """Handle targets of ``type_name`` with ``handler`` (replacing an earlier one)."""
        with self._lock:
            self._handlers = {**self._handlers, type_name: handler}

    def handler(self, type_name: str) -> Handler | None:
        return self._handlers.get(type_name)

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def on_close(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def on_flush(self, flusher: Callable[[], None]) -> None:
        """Call ``flusher`` on :meth:`flush` (a handler that buffers its deliveries)."""
        self._flushers.append(flusher)

    def flush(self) -> None:
        """Make every buffered delivery durable; raises if one cannot be."""
        for flusher in self._flushers:
            flusher()

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()


def _title(call: TargetCall) -> str:
    if call.target.title:
        return call.target.title
    if isinstance(call.input, str) and call.input.strip():
        return call.input.strip()[:500]
    return f"{call.event.get('detail-type', 'event')} from {call.event.get('source', '?')}"


def _body(call: TargetCall) -> str:
    if isinstance(call.input, str):
        return call.input
    return orjson.dumps(call.input, option=orjson.OPT_INDENT_2).decode()


class NotifyTarget:
    """Sends a ``Notification`` through the target's ``urls`` or the platform's default
    notifiers; its ``dedup_key`` is the call's key, so receivers fold repeats."""

    def __init__(self, default_urls: Sequence[str]) -> None:
        self._default = tuple(default_urls)
        self._notifiers: dict[tuple[str, ...], Notifier] = {}
        self._lock = threading.Lock()

    def _notifier(self, urls: tuple[str, ...]) -> Notifier:
        with self._lock:
            found = self._notifiers.get(urls)
            if found is None:
                try:
                    found = notifier_from_urls(urls)
                except ValueError as exc:
                    raise TargetFailed(f"notifier URL: {exc}", retryable=False) from None
                self._notifiers[urls] = found
            return found

    def __call__(self, call: TargetCall) -> None:
        urls = tuple(call.target.urls) if call.target.urls is not None else self._default
        detail = call.event.get("detail")
        fields: dict[str, str | int | float | bool | None] = {
            "rule": call.rule,
            "event_id": call.event.get("id"),
            "source": call.event.get("source"),
        }
        if isinstance(detail, dict):
            for name in ("entity_id", "publisher_id", "partner_id", "problem_type"):
                value = detail.get(name)
                if isinstance(value, str | int | float | bool):
                    fields[name] = value
        notification = Notification(
            title=_title(call),
            body=_body(call),
            severity=call.target.severity,
            source=f"ssmas.adops.rules.{call.rule}",
            dedup_key=call.key[:255],
            fields=fields,
        )
        self._notifier(urls).send(notification)

    def close(self) -> None:
        for notifier in self._notifiers.values():
            close = getattr(notifier, "close", None)
            if callable(close):
                close()


class WebhookTarget:
    """POSTs the input as JSON to the target's ``url``; one try per call (the dispatcher
    retries), ``Idempotency-Key`` set to the call's key."""

    def __init__(self) -> None:
        self._deliveries: dict[float, HttpDelivery] = {}
        self._lock = threading.Lock()

    def _delivery(self, timeout_s: float) -> HttpDelivery:
        with self._lock:
            found = self._deliveries.get(timeout_s)
            if found is None:
                found = HttpDelivery("webhook", timeout_s=timeout_s, max_retries=0)
                self._deliveries[timeout_s] = found
            return found

    def __call__(self, call: TargetCall) -> None:
        assert call.target.url is not None  # TargetSpec refuses a webhook without one
        headers = {
            "Content-Type": "application/json",
            **call.target.headers,
            "Idempotency-Key": call.key,
            "X-SSMAS-Rule": call.rule,
        }
        body = orjson.dumps(call.input)
        self._delivery(call.target.timeout_s).post(call.target.url, content=body, headers=headers)

    def close(self) -> None:
        for delivery in self._deliveries.values():
            delivery.close()


class TopicTarget:
    """Publishes the input (an object as is, anything else as ``{"input": ...}``) on the
    target's topic, keyed by the call's key: a repeat stores nothing.

    Calls are buffered and published by :meth:`flush`, one transaction per topic: the
    dispatcher flushes before a batch is acknowledged (and at the end of a lone dispatch), so
    a crash before the flush only means the redelivered batch publishes them then."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._pending: dict[str, list[tuple[str | None, dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def __call__(self, call: TargetCall) -> None:
        assert call.target.topic is not None  # TargetSpec refuses a topic target without one
        payload = call.input if isinstance(call.input, dict) else {"input": call.input}
        with self._lock:
            self._pending.setdefault(call.target.topic, []).append((call.key, payload))

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for topic, items in pending.items():
            for start in range(0, len(items), MAX_BATCH):
                self.bus.publish_batch(topic, items[start : start + MAX_BATCH])


def builtin_registry(bus: Bus, notify_urls: Sequence[str] = ()) -> TargetRegistry:
    """A registry holding ``notify``, ``webhook`` and ``topic``."""
    registry = TargetRegistry()
    notify = NotifyTarget(notify_urls)
    webhook = WebhookTarget()
    registry.register("notify", notify)
    registry.register("webhook", webhook)
    topic = TopicTarget(bus)
    registry.register("topic", topic)
    registry.on_flush(topic.flush)
    registry.on_close(notify.close)
    registry.on_close(webhook.close)
    return registry


def _build(platform: Platform) -> TargetRegistry:
    registry = builtin_registry(platform.bus, platform.settings.adops.notify_urls)
    for type_name, spec in PLUGIN_TARGETS:
        registry.register(type_name, resolve(spec)(platform))
    return registry


def target_registry(platform: Platform) -> TargetRegistry:
    """This process's registry (built-ins and :data:`PLUGIN_TARGETS`), kept on the platform."""
    return platform.runtime_or_build(RUNTIME, TargetRegistry, _build)
