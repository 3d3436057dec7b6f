"""Operations on a running bus: backlog gauges for ``/metrics``, and cleaning up after processes
that are gone.

``BacklogCollector`` reports, at each scrape, every consumer group's unacknowledged messages
(``ssmas_bus_backlog_count``) and how long the oldest has waited
(``ssmas_bus_backlog_age_seconds``), labelled by topic and group; worker processes register it
next to the bus counters. ``Janitor`` runs on start and then every ``interval_s``: it deletes
the consumer groups named by ``group_prefixes`` (groups that only processes now gone used) and
forgets consumers idle longer than ``consumer_idle_s`` that hold no message (Redis lists every
consumer that ever read a group until told otherwise). Given a ``LeaseStore``, it also deletes
worker leases expired for more than ``lease_grace_s`` (the membership rows of processes that are
gone: one per process start). Both use the backends' extras (``backlog``, ``prune_groups``,
``prune_consumers``); a bus without them is skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ssmas.core.bus.base import GroupBacklog

if TYPE_CHECKING:
    from ssmas.core.leases import LeaseStore

log = structlog.get_logger("ssmas.bus")

BACKLOG = "ssmas_bus_backlog_count"
BACKLOG_AGE = "ssmas_bus_backlog_age_seconds"


def backlogs(bus: Any) -> list[GroupBacklog]:
    """Every group's backlog, or [] when the bus cannot tell."""
    read = getattr(bus, "backlog", None)
    return list(read()) if callable(read) else []


class BacklogCollector(Collector):
    """Backlog gauges computed from the bus at scrape time."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus

    def collect(self) -> Iterator[GaugeMetricFamily]:
        count = GaugeMetricFamily(
            BACKLOG, "Messages a group has not acknowledged", labels=["topic", "group"]
        )
        age = GaugeMetricFamily(
            BACKLOG_AGE,
            "Seconds the oldest unacknowledged message of a group has waited",
            labels=["topic", "group"],
        )
        try:
            found = backlogs(self.bus)
        except Exception as exc:  # a scrape must not fail because the bus is away
            log.warning("bus_backlog_failed", error=type(exc).__name__)
            found = []
        now = datetime.now(UTC)
        for b in found:
            count.add_metric([b.topic, b.group], float(b.messages))
            waited = (now - b.oldest).total_seconds() if b.oldest is not None else 0.0
            age.add_metric([b.topic, b.group], max(0.0, waited))
        yield count
        yield age


class Janitor:
    """Deletes the groups and consumers of processes that are gone, now and periodically."""

    def __init__(
        self,
        bus: Any,
        *,
        group_prefixes: Sequence[str] = (),
        consumer_idle_s: float = 3600.0,
        interval_s: float = 600.0,
        leases: LeaseStore | None = None,
        lease_grace_s: float = 600.0,
    ) -> None:
        self.bus = bus
        self.group_prefixes = tuple(group_prefixes)
        self.consumer_idle_s = consumer_idle_s
        self.interval_s = interval_s
        self.leases = leases
        self.lease_grace_s = lease_grace_s

    def sweep(self) -> tuple[int, int]:
        """One pass; returns (groups, consumers) removed (and drops expired leases)."""
        groups = consumers = 0
        prune_groups = getattr(self.bus, "prune_groups", None)
        if self.group_prefixes and callable(prune_groups):
            groups = int(prune_groups(self.group_prefixes))
        prune_consumers = getattr(self.bus, "prune_consumers", None)
        if callable(prune_consumers):
            consumers = int(prune_consumers(self.consumer_idle_s))
        if groups or consumers:
            log.info("bus_pruned", groups=groups, consumers=consumers)
        if self.leases is not None:
            gone = self.leases.sweep(self.lease_grace_s)
            if gone:
                log.info("leases_pruned", leases=gone)
        return groups, consumers

    def run(self, stop: threading.Event) -> None:
        while True:
            try:
                self.sweep()
            except Exception as exc:  # retried next interval
                log.warning("bus_prune_failed", error=type(exc).__name__)
            if stop.wait(self.interval_s):
                return

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(
            target=self.run, args=(stop,), name="ssmas-bus-janitor", daemon=True
        )
        thread.start()
        return thread
