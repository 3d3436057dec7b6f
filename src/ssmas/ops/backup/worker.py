"""The ops product's ``backup`` worker: a backup every ``SSMAS_OPS_BACKUP_INTERVAL_S`` seconds,
then the retention (newest ``backup_keep``, none older than ``backup_keep_days``)."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from ssmas.ops.backup import source_for, store_for
from ssmas.ops.backup.archive import Backup, BackupError

if TYPE_CHECKING:
    from ssmas.core.platform import Platform
    from ssmas.settings import Settings

__all__ = ["backup_once", "run_backup_loop"]

log = logging.getLogger("ssmas.ops.backup")


def backup_once(settings: Settings) -> tuple[Backup, list[str]]:
    """One scheduled round: a backup, then the retention; ``(backup, ids deleted)``."""
    store = store_for(settings, create_key=True)
    backup = store.create(source_for(settings))
    pruned = store.prune(keep=settings.ops.backup_keep, keep_days=settings.ops.backup_keep_days)
    return backup, pruned


def run_backup_loop(platform: Platform, stop: threading.Event) -> None:
    """Back up every interval until ``stop``; a failed round is logged and tried again next
    time."""
    settings = platform.settings
    interval = settings.ops.backup_interval_s
    # The first round waits one interval: a process that starts and stops at once (a test, a
    # short demo) leaves no backup behind, and N processes starting together do not all copy.
    due = time.monotonic() + interval
    while not stop.wait(max(0.0, due - time.monotonic())):
        started = time.monotonic()
        due = max(due + interval, started)  # on a fixed period; a late round runs at once
        try:
            backup, pruned = backup_once(settings)
            log.info(
                "backup made",
                extra={
                    "backup": backup.id,
                    "bytes": backup.size,
                    "pruned": len(pruned),
                    "seconds": round(time.monotonic() - started, 3),
                },
            )
        except (BackupError, OSError) as exc:
            log.error("backup failed: %s", exc)
