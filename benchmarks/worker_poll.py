"""A worker's fixed cost per step: CPU of one ``drain_once`` over the assistant's ten queues
(router, four text partitions, media, statuses, outbound, templates, escalations) on the
SQLite bus, with the bus's one-read ``with_work`` check and without it (one read per queue,
as before). Two cases: every queue empty (a wake-up for another consumer's commit, or the
idle poll), and one message waiting on a text partition (a paced stream's typical step; the
handler does nothing, so only the polling is measured).

Usage: .venv/bin/python benchmarks/worker_poll.py [--steps 3000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _report import write_result
from ssmas.core.bus.base import Delivery
from ssmas.core.bus.sqlite import SqliteBus
from ssmas.core.worker import Subscription, WorkerStats, drain_once

QUEUES = [
    ("assistant.inbound", "assistant-router", 0),
    ("assistant.text", "assistant-text", 4),
    ("assistant.media", "assistant-media", 0),
    ("assistant.status", "assistant-status", 0),
    ("assistant.outbound", "assistant-outbound", 0),
    ("assistant.template_send", "assistant-templates", 0),
    ("assistant.escalation", "assistant-escalations", 0),
]


class PerQueue:
    """The bus without ``with_work``: ``drain_once`` reads each queue on its own."""

    def __init__(self, bus: SqliteBus) -> None:
        self.bus = bus

    def consume(self, *args: Any, **kwargs: Any) -> list[Delivery]:
        return self.bus.consume(*args, **kwargs)

    def ack(self, deliveries: Any) -> None:
        self.bus.ack(deliveries)

    def nack(self, *args: Any, **kwargs: Any) -> None:
        self.bus.nack(*args, **kwargs)


def subscriptions() -> list[Subscription]:
    def done(_: Delivery) -> None:
        return None

    def batch(deliveries: Sequence[Delivery]) -> list[BaseException | None]:
        return [None] * len(deliveries)

    return [
        Subscription(topic, group, done, 50, 8.0, batch, partitions=parts)
        for topic, group, parts in QUEUES
    ]


def cpu_per_step(bus: Any, raw: SqliteBus, steps: int, one_waiting: bool) -> float:
    subs = subscriptions()
    stats = WorkerStats()
    drain_once(bus, subs, "bench", stats)  # groups created, cursors at the end
    started = time.process_time()
    for i in range(steps):
        if one_waiting:
            raw.publish("assistant.text.p2", {"n": i})
        drain_once(bus, subs, "bench", stats)
    elapsed = time.process_time() - started
    if one_waiting:
        publish = time.process_time()
        for i in range(steps):
            raw.publish("assistant.text.p3", {"n": i})
        elapsed -= time.process_time() - publish  # the publishing is not the worker's
    return 1000 * elapsed / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ssmas-poll-") as tmp:
        for case, waiting in (("idle", False), ("one_waiting", True)):
            for name, wrap in (("per_queue", PerQueue), ("with_work", None)):
                bus = SqliteBus(Path(tmp) / f"{case}-{name}.db")
                try:
                    tested = bus if wrap is None else wrap(bus)
                    ms = cpu_per_step(tested, bus, args.steps, waiting)
                finally:
                    bus.close()
                figures[f"step_cpu_ms_{case}_{name}"] = round(ms, 4)
                print(f"{case:12} {name:10} {ms:.4f} ms CPU a step")
    figures["load_avg_1m_before"] = round(load_before, 2)
    figures["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    write_result(
        "worker_poll",
        figures,
        f"drain_once over the assistant's 10 queues on a file SQLite bus, {args.steps} steps "
        "per case, CPU (process_time) per step; per_queue hides the bus's with_work so each "
        "queue is read on its own (the behaviour before); one_waiting publishes one message "
        "to a text partition before each step (its publishing CPU measured apart and taken "
        "off).",
    )


if __name__ == "__main__":
    main()
