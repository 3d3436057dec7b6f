"""The event rules' use cases: publish an event, consume the events topic (the worker), replay
archived events, test a pattern.

``publish_event`` validates and puts an event on the events topic, keyed by its id (publishing
the same event twice stores it once). ``run_rules_worker`` is the product's ``rules`` worker:
it consumes the topic in batches, archives each batch as Parquet, then dispatches each event;
the batch is acknowledged only after both, so a killed worker loses nothing (the batch comes
back) and alerts nobody twice (the ledger skips what was done). ``replay`` re-sends archived
events through the rules under a replay name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ssmas.adops.events.archive import EventArchive
from ssmas.adops.events.dispatch import Dispatcher, DispatchReport, replay_event
from ssmas.adops.events.envelope import Event, EventError, parse_event
from ssmas.adops.events.ledger import DeliveryLedger
from ssmas.adops.events.rules import RuleSet, load_rules
from ssmas.adops.events.targets import TargetRegistry, target_registry
from ssmas.core.bus import Bus, Delivery
from ssmas.core.worker import Subscription, run_worker

if TYPE_CHECKING:
    from ssmas.core.platform import Platform
    from ssmas.settings import Settings

__all__ = [
    "EventRules",
    "archive_root",
    "event_rules",
    "publish_event",
    "replay",
    "run_rules_worker",
]

log = structlog.get_logger(__name__)
GROUP = "adops-rules"
PRUNE_EVERY_S = 3600.0
RUNTIME = "adops.event_rules"


def archive_root(settings: Settings) -> Path:
    """Where events are archived: ``SSMAS_ADOPS_ARCHIVE_DIR``, else under the data directory
    (``<data_dir>/lake/events/adops``)."""
    return settings.adops.archive_dir or settings.data_dir / "lake" / "events" / "adops"


def publish_event(bus: Bus, event: Event | dict[str, Any], topic: str = "adops.events") -> Event:
    """Validate ``event`` and publish it on ``topic`` keyed by its id; returns the event."""
    parsed = event if isinstance(event, Event) else parse_event(event)
    bus.publish(topic, parsed.document(), key=f"event/{parsed.id}")
    return parsed


@dataclass
class EventRules:
    """One process's rules, targets, ledger, dispatcher and archive."""

    rules: RuleSet
    registry: TargetRegistry
    dispatcher: Dispatcher
    archive: EventArchive
    topic: str

    def handle_batch(self, deliveries: Sequence[Delivery]) -> list[BaseException | None]:
        """Archive then dispatch a consumed batch; one outcome per delivery (None: done)."""
        events: list[tuple[int, Event]] = []
        for index, delivery in enumerate(deliveries):
            try:
                events.append((index, parse_event(delivery.message.payload)))
            except EventError as exc:
                self.dispatcher.dead_letter_malformed(
                    delivery.message.id, delivery.message.payload, str(exc)
                )
        documents = [event.document() for _, event in events]
        self.archive.write([event for _, event in events], documents=documents)
        outcomes: list[BaseException | None] = [None] * len(deliveries)
        self.dispatcher.ledger.refresh()
        for (index, event), document in zip(events, documents, strict=True):
            try:
                self.dispatcher.dispatch(event, refresh=False, document=document, flush=False)
            except Exception as exc:  # ledger or bus trouble: this event comes back later
                outcomes[index] = exc
        try:
            self.registry.flush()
        except Exception as exc:  # buffered topic deliveries: the whole batch comes back
            return [exc for _ in deliveries]
        return outcomes

    def prune(self, now: datetime, archive_days: int, ledger_days: float) -> tuple[int, int]:
        """Apply the retention: archived days older than ``archive_days`` (0: keep all) and
        ledger records older than ``ledger_days``; returns (days, records) dropped."""
        days = 0
        if archive_days > 0:
            days = self.archive.prune((now - timedelta(days=archive_days)).date())
        records = self.dispatcher.ledger.prune(now - timedelta(days=ledger_days))
        return days, records

    def close(self) -> None:
        self.registry.close()


def build_event_rules(
    platform: Platform, rules: RuleSet | None = None, *, sleep: Callable[[float], None] = time.sleep
) -> EventRules:
    """Rules from the settings (or ``rules``), this process's target registry, and the ledger;
    ``sleep`` waits between a target's tries."""
    settings = platform.settings
    ruleset = rules if rules is not None else load_rules(settings.adops.rules_file)
    registry = target_registry(platform)
    topic = settings.adops.events_topic
    ledger = DeliveryLedger(platform.bus)
    dispatcher = Dispatcher(ruleset, registry, platform.bus, ledger, topic=topic, sleep=sleep)
    return EventRules(ruleset, registry, dispatcher, EventArchive(archive_root(settings)), topic)


def event_rules(platform: Platform) -> EventRules:
    """This process's :class:`EventRules`, built on first use and kept on the platform."""
    return platform.runtime_or_build(RUNTIME, EventRules, build_event_rules)


def run_rules_worker(platform: Platform, stop: threading.Event) -> None:
    """The adops ``rules`` worker: consume the events topic until ``stop`` is set, applying
    the retention of the archive and the ledger at start and every hour."""
    runtime = event_rules(platform)
    settings = platform.settings.adops
    last_prune = -PRUNE_EVERY_S

    def handle(deliveries: Sequence[Delivery]) -> list[BaseException | None]:
        nonlocal last_prune
        if time.monotonic() - last_prune >= PRUNE_EVERY_S:
            last_prune = time.monotonic()
            days, records = runtime.prune(
                datetime.now(UTC), settings.archive_retention_days, settings.ledger_retention_days
            )
            log.info("event_retention", archive_days_dropped=days, ledger_dropped=records)
        return runtime.handle_batch(deliveries)

    sub = Subscription(
        runtime.topic,
        GROUP,
        handler=lambda _delivery: None,
        batch_size=settings.dispatch_batch,
        visibility_timeout_s=settings.dispatch_visibility_s,
        batch_handler=handle,
    )
    run_worker(platform.bus, [sub], stop)


def replay(
    runtime: EventRules,
    start: datetime,
    end: datetime,
    *,
    name: str,
    rule: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> DispatchReport:
    """Re-send archived events with ``start <= time < end`` through the rules (only ``rule``
    when given) as replay ``name``; a replay run again under the same name re-sends nothing
    it already delivered."""
    report = DispatchReport()
    runtime.dispatcher.ledger.refresh()
    for count, event in enumerate(runtime.archive.events(start, end), start=1):
        report.add(
            runtime.dispatcher.dispatch(
                replay_event(event, name), only_rule=rule, refresh=False, flush=False
            )
        )
        if count % 500 == 0:
            runtime.registry.flush()
            if progress is not None:
                progress(500)
    runtime.registry.flush()
    if progress is not None and report.events % 500:
        progress(report.events % 500)
    return report
