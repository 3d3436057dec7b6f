"""Which brain every assistant worker serves, readable from any process of the deployment.

A worker swaps its brain inside its own process (``brain_reload``) and exports what it serves
only as its own gauge, so nothing tells an operator whether a promotion or a reloaded
knowledge base has reached every worker. Each worker process keeps one row of
``assistant_brain_served`` (:class:`ServedRecord`, named as ``core.worker.consumer_name``):
the NLU and knowledge-base versions its ``HotBrain`` answers with, ``since`` when, and
``seen_at``. The reloader's thread writes it, never the pipeline's: at start, within a poll
(0.2 s) of a swap, and every ``CHECK_EVERY_S`` as a heartbeat, so the row of a worker that
died goes stale. A write that fails is logged and dropped (the next heartbeat writes again):
reporting never stops answering. Rows not seen for :data:`FORGET_AFTER` are deleted when a
worker starts.

:func:`brain_status` reads every row beside the registry's champion and the knowledge base's
version: ``GET /assistant/brain`` and ``ssmas assistant brain-status``.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from ssmas.assistant.brain_reload import CHECK_EVERY_S, BrainVersion, champion_version
from ssmas.assistant.tables import BrainServed
from ssmas.core.cli_errors import first_line
from ssmas.core.db import UnitOfWork, utcnow
from ssmas.core.worker import consumer_name

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from ssmas.core.registry import ModelRegistry
    from ssmas.settings import Settings

log = structlog.get_logger(__name__)

STALE_AFTER_S = 3 * CHECK_EVERY_S
"""A worker not seen for this long is stale: three heartbeats missed (dead, or hung)."""
FORGET_AFTER = timedelta(days=1)
"""Rows not seen for this long are deleted when a worker starts (workers restart with a new
pid, so a row per process would otherwise pile up)."""

Clock = Callable[[], datetime]


class ServedRecord:
    """This process's row: :meth:`serving` notes a version (any thread, no I/O), :meth:`flush`
    writes it (the reloader's thread)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        name: str | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.session_factory = session_factory
        self.name = (name or consumer_name())[:200]
        self.host = socket.gethostname()[:200]
        self.pid = os.getpid()
        self.clock = clock
        self._lock = threading.Lock()
        self._version: BrainVersion | None = None
        self._since: datetime | None = None
        self._dirty = False
        self._pruned = False

    def serving(self, version: BrainVersion) -> None:
        """The brain in service is now ``version`` (``HotBrain.watch`` calls it)."""
        with self._lock:
            if version != self._version:
                self._version, self._since, self._dirty = version, self.clock(), True

    def flush(self, *, heartbeat: bool = False) -> bool:
        """Write the row if the version changed since the last write, or always with
        ``heartbeat``; returns whether a row was written. Never raises."""
        with self._lock:
            if self._version is None or self._since is None or not (self._dirty or heartbeat):
                return False
            version, since, self._dirty = self._version, self._since, False
        try:
            self._write(version, since)
        except Exception as exc:  # a database away must not stop answering
            log.warning("assistant_brain_served_unwritten", error=first_line(exc))
            return False
        return True

    def _write(self, version: BrainVersion, since: datetime) -> None:
        now = self.clock()
        with UnitOfWork(self.session_factory) as uow:
            session = uow.session
            if not self._pruned:
                session.execute(
                    sa.delete(BrainServed).where(BrainServed.seen_at < now - FORGET_AFTER)
                )
            row = session.get(BrainServed, self.name)
            if row is None:
                row = BrainServed(name=self.name)
                session.add(row)
            row.host, row.pid = self.host, self.pid
            row.nlu_version, row.kb_version = version.nlu, version.kb
            row.since, row.seen_at = since, now
            uow.commit()
        self._pruned = True


def _registry(settings: Settings) -> ModelRegistry | None:
    from ssmas.core.registry import registry_exists, registry_from_settings

    return registry_from_settings(settings) if registry_exists(settings) else None


def brain_status(
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: datetime | None = None,
    registry: ModelRegistry | None = None,
) -> dict[str, Any]:
    """What every worker serves against what it should: the registry's champion (``None``
    without a registry or a champion: any NLU is then current) and the knowledge base's
    version. ``converged``: at least one worker is alive and every live one is current.
    Raises ``RegistryError`` when the registry cannot be read."""
    from ssmas.assistant.kb import knowledge_version
    from ssmas.assistant.nlu.bundle import MODEL_NAME

    now = now or utcnow()
    champion = champion_version(registry or _registry(settings), MODEL_NAME)
    kb = knowledge_version(settings)
    with UnitOfWork(session_factory) as uow:
        rows = uow.session.scalars(sa.select(BrainServed).order_by(BrainServed.name)).all()
    stale_before = now - timedelta(seconds=STALE_AFTER_S)
    workers = [
        {
            "name": r.name,
            "host": r.host,
            "pid": r.pid,
            "nlu_version": r.nlu_version,
            "kb_version": r.kb_version,
            "since": r.since.isoformat(),
            "seen_at": r.seen_at.isoformat(),
            "stale": r.seen_at < stale_before,
            "current": (champion is None or r.nlu_version == champion) and r.kb_version == kb,
        }
        for r in rows
    ]
    live = [w for w in workers if not w["stale"]]
    return {
        "champion_nlu_version": champion,
        "kb_version": kb,
        "converged": bool(live) and all(w["current"] for w in live),
        "stale_after_s": STALE_AFTER_S,
        "workers": workers,
    }
