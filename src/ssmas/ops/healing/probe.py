"""What a worker process says about itself on its ``/metrics``, read in one scrape.

``ssmas worker`` serves its metrics on a port of its own (``--metrics-port``); the supervisor
reads there the figures its health checks need: the heartbeat the process's main loop sets
(``ssmas_worker_heartbeat_timestamp_seconds``), its resident memory
(``process_resident_memory_bytes``), the deliveries it acked and nacked (``ssmas_bus_acked_total``,
``ssmas_bus_nacked_total``), the time its handlers took (``ssmas_worker_handling_seconds_total``)
and the bus's backlog per consumer group (``ssmas_bus_backlog_count``,
``ssmas_bus_backlog_age_seconds``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Sample", "parse_sample", "scrape"]


@dataclass(frozen=True)
class Sample:
    """One scrape of one worker process (counters are the process's running totals)."""

    heartbeat: float | None = None
    rss_bytes: float | None = None
    acked: float = 0.0
    nacked: float = 0.0
    handling_s: float = 0.0
    backlog: dict[str, float] = field(default_factory=dict)
    backlog_age_s: dict[str, float] = field(default_factory=dict)

    def backlog_of(self, groups: Iterable[str]) -> tuple[float, float]:
        """Messages waiting for ``groups`` (summed) and the oldest one's age (the largest)."""
        chosen = list(groups)
        depth = sum(self.backlog.get(g, 0.0) for g in chosen)
        age = max((self.backlog_age_s.get(g, 0.0) for g in chosen), default=0.0)
        return depth, age


def parse_sample(text: str) -> Sample:
    """A :class:`Sample` from Prometheus text exposition (``ValueError`` if it is not that)."""
    heartbeat = rss = None
    acked = nacked = handling = 0.0
    backlog: dict[str, float] = {}
    ages: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "ssmas_worker_heartbeat_timestamp_seconds":
                heartbeat = s.value
            elif s.name == "process_resident_memory_bytes":
                rss = s.value
            elif s.name == "ssmas_bus_acked_total":
                acked += s.value
            elif s.name == "ssmas_bus_nacked_total":
                nacked += s.value
            elif s.name == "ssmas_worker_handling_seconds_total":
                handling += s.value
            elif s.name == "ssmas_bus_backlog_count":
                group = s.labels.get("group", "")
                backlog[group] = backlog.get(group, 0.0) + s.value
            elif s.name == "ssmas_bus_backlog_age_seconds":
                group = s.labels.get("group", "")
                ages[group] = max(ages.get(group, 0.0), s.value)
    return Sample(heartbeat, rss, acked, nacked, handling, backlog, ages)


def scrape(client: httpx.Client, host: str, port: int) -> Sample | None:
    """The process's sample, or None when its ``/metrics`` does not answer a well-formed 200."""
    try:
        response = client.get(f"http://{host}:{port}/metrics")
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        return parse_sample(response.text)
    except ValueError:
        return None
