"""Every healing action, three ways: a log line, a Prometheus counter and a journal file.

:class:`HealingJournal` records one :class:`HealingAction` at a time: structlog's
``healing_action`` line, ``ssmas_ops_healing_actions_total{action,worker,outcome}`` and one JSON
line appended to ``<data_dir>/ops/healing.jsonl`` (rotated to ``healing.jsonl.1`` past
``max_bytes``, 1 MB). Any process on the host reads the journal back
(:meth:`HealingJournal.recent`), so the API and the dashboard show what ``ssmas up`` did.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from ssmas.core import metrics

__all__ = ["ACTIONS", "OUTCOMES", "HealingAction", "HealingJournal", "journal_path"]

log = structlog.get_logger("ssmas.ops.healing")

ACTIONS = (
    "restart",
    "scale_up",
    "scale_down",
    "open_breaker",
    "close_breaker",
    "shed_load",
    "alert",
)
"""What the supervisor does: restart a process (after its backoff), add or remove a replica,
open a worker's circuit breaker (no restarts while it is open) or close it again, shed the
product's API writes, and alert people when healing fails."""
OUTCOMES = ("ok", "failed", "skipped")

ACTIONS_TOTAL = metrics.counter(
    "ops",
    "healing_actions",
    "Healing actions of the worker supervisor, by action, worker and outcome",
    labels=("action", "worker", "outcome"),
)


@dataclass(frozen=True)
class HealingAction:
    """One action: when, what, on which worker, how it went, why, and details."""

    at: str
    action: str
    worker: str
    outcome: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def now(
        cls, action: str, worker: str, outcome: str, reason: str, **detail: Any
    ) -> HealingAction:
        if action not in ACTIONS or outcome not in OUTCOMES:
            raise ValueError(f"unknown healing action {action!r} or outcome {outcome!r}")
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        return cls(stamp, action, worker, outcome, reason, detail)


def journal_path(data_dir: Path) -> Path:
    """Where the healing journal of a data directory lives."""
    return data_dir / "ops" / "healing.jsonl"


class HealingJournal:
    """Logs, counts and appends healing actions; reads the newest back."""

    def __init__(self, path: Path, *, max_bytes: int = 1024 * 1024) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def record(self, action: HealingAction) -> HealingAction:
        ACTIONS_TOTAL.labels(action.action, action.worker, action.outcome).inc()
        level = log.warning if action.outcome == "failed" else log.info
        level(
            "healing_action",
            action=action.action,
            worker=action.worker,
            outcome=action.outcome,
            reason=action.reason,
            **action.detail,
        )
        line = json.dumps(asdict(action), default=str) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self.path.exists() and self.path.stat().st_size > self.max_bytes:
                    self.path.replace(self.path.with_name(self.path.name + ".1"))
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(line)
            except OSError as exc:  # a full disk must not stop the healing
                log.warning("healing_journal_unwritable", error=str(exc))
        return action

    def recent(self, limit: int = 100) -> list[HealingAction]:
        """The newest ``limit`` actions, newest first (a line that does not parse is skipped)."""
        if limit <= 0 or not self.path.exists():
            return []
        with self._lock, self.path.open(encoding="utf-8") as lines:
            tail = deque(lines, maxlen=2 * limit + 10)  # room for a few torn lines
        found: list[HealingAction] = []
        for line in reversed(tail):
            try:
                found.append(HealingAction(**json.loads(line)))
            except (ValueError, TypeError):
                continue
            if len(found) == limit:
                break
        return found
