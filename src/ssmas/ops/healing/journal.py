"""Every healing action, three ways: a log line, a Prometheus counter and the journal.

:class:`HealingJournal` records one :class:`HealingAction` at a time: structlog's
``healing_action`` line, ``ssmas_ops_healing_actions_total{action,worker,outcome}`` and a row
of ``ops_healing_actions`` in the platform's database (:func:`journal_for`), so every host's
``ssmas up`` writes one journal and any process of the deployment reads it back
(:meth:`HealingJournal.recent`: the API and the dashboard show what every supervisor did, each
action naming its host).

The file ``<data_dir>/ops/healing.jsonl`` (one JSON line per action, rotated to
``healing.jsonl.1`` past ``max_bytes``, 1 MB) is where actions went before the journal moved to
the database, and where one goes when the database can't take it (healing must go on while the
database is away): ``recent`` reads it beside the table. A journal made with a path alone (no
database) keeps the file only.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from ssmas.core import metrics
from ssmas.ops.healing.tables import HealingActionRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from ssmas.core.platform import Platform

__all__ = [
    "ACTIONS",
    "OUTCOMES",
    "HealingAction",
    "HealingJournal",
    "journal_for",
    "journal_path",
]

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
    host: str = ""  # whose supervisor acted ("" in journals written before it was kept)

    @classmethod
    def now(
        cls, action: str, worker: str, outcome: str, reason: str, **detail: Any
    ) -> HealingAction:
        if action not in ACTIONS or outcome not in OUTCOMES:
            raise ValueError(f"unknown healing action {action!r} or outcome {outcome!r}")
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        return cls(stamp, action, worker, outcome, reason, detail)


def journal_path(data_dir: Path) -> Path:
    """Where the healing journal file of a data directory lives (old journals, fallback)."""
    return data_dir / "ops" / "healing.jsonl"


def journal_for(platform: Platform) -> HealingJournal:
    """The platform's journal: its database, this host's file beside it."""
    return HealingJournal(
        journal_path(platform.settings.data_dir), session_factory=platform.session_factory
    )


class HealingJournal:
    """Logs, counts and stores healing actions; reads the newest back."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 1024 * 1024,
        session_factory: sessionmaker[Session] | None = None,
        host: str | None = None,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.session_factory = session_factory
        self.host = host or socket.gethostname()
        self._lock = threading.Lock()

    def record(self, action: HealingAction) -> HealingAction:
        action = action if action.host else replace(action, host=self.host)
        ACTIONS_TOTAL.labels(action.action, action.worker, action.outcome).inc()
        level = log.warning if action.outcome == "failed" else log.info
        level(
            "healing_action",
            action=action.action,
            worker=action.worker,
            outcome=action.outcome,
            reason=action.reason,
            host=action.host,
            **action.detail,
        )
        if not self._insert(action):
            self._append(action)
        return action

    def _insert(self, action: HealingAction) -> bool:
        """Store ``action`` in the database; False when there is none or it is away."""
        if self.session_factory is None:
            return False
        row = HealingActionRow(
            at=datetime.fromisoformat(action.at),
            host=action.host[:200],
            action=action.action,
            worker=action.worker[:200],
            outcome=action.outcome,
            reason=action.reason,
            detail=json.loads(json.dumps(action.detail, default=str)),
        )
        try:
            with self.session_factory() as session:
                session.add(row)
                session.commit()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("healing_journal_database_unwritable", error=str(exc).splitlines()[0])
            return False
        return True

    def _append(self, action: HealingAction) -> None:
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

    def recent(self, limit: int = 100) -> list[HealingAction]:
        """The newest ``limit`` actions of the database and this host's file, newest first."""
        if limit <= 0:
            return []
        found = self._stored(limit) + self._filed(limit)
        found.sort(key=lambda a: _instant(a.at), reverse=True)
        return found[:limit]

    def _stored(self, limit: int) -> list[HealingAction]:
        if self.session_factory is None:
            return []
        query = (
            sa.select(HealingActionRow)
            .order_by(HealingActionRow.at.desc(), HealingActionRow.id.desc())
            .limit(limit)
        )
        try:
            with self.session_factory() as session:
                rows = session.scalars(query).all()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("healing_journal_database_unreadable", error=str(exc).splitlines()[0])
            return []
        return [
            HealingAction(
                at=r.at.astimezone(UTC).isoformat(timespec="milliseconds"),
                action=r.action,
                worker=r.worker,
                outcome=r.outcome,
                reason=r.reason,
                detail=dict(r.detail or {}),
                host=r.host,
            )
            for r in rows
        ]

    def _filed(self, limit: int) -> list[HealingAction]:
        """The file's newest ``limit`` actions (a line that does not parse is skipped)."""
        if not self.path.exists():
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


def _instant(stamp: str) -> datetime:
    """An action's time, for ordering (an unreadable one sorts last)."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
