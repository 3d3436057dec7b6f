"""Data capture: a sample of predictions, every floor decision and every outcome, to the database.

The request path only appends to an in-memory buffer (a deque append, no I/O); a background
thread writes the buffer in bulk every ``flush_interval_s`` or once ``batch_size`` rows wait.
When the database falls behind and ``max_pending`` rows are waiting, new rows are dropped and
counted (``ssmas_pricing_capture_dropped_total``) rather than slowing the answers down. Which
predictions are captured is decided by a stable hash of the impression id, so an outcome posted
later can be joined to its captured prediction.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ssmas.core import metrics
from ssmas.pricing.serving import store
from ssmas.pricing.variants import hash_unit, hash_units

CAPTURE_SALT = "ssmas.pricing.capture"
DEFAULT_SHARE = 0.1

_log = structlog.get_logger(__name__)
WRITTEN = metrics.counter(
    "pricing", "capture_rows", "Rows written by data capture", labels=("table",)
)
DROPPED = metrics.counter(
    "pricing", "capture_dropped", "Capture rows dropped because the writer fell behind"
)


def sampled(impression_id: str, share: float) -> bool:
    """Whether ``impression_id`` is in the captured sample (sticky: same id, same answer)."""
    if share <= 0.0:
        return False
    if share >= 1.0:
        return True
    return hash_unit(impression_id, CAPTURE_SALT) < share


def sample_mask(impression_ids: list[str], share: float) -> npt.NDArray[np.bool_]:
    """Vector form of :func:`sampled`."""
    if share <= 0.0:
        return np.zeros(len(impression_ids), dtype=np.bool_)
    if share >= 1.0:
        return np.ones(len(impression_ids), dtype=np.bool_)
    return hash_units(impression_ids, CAPTURE_SALT) < share


class CaptureWriter:
    """Buffers rows per table and writes them in bulk from one background thread.

    ``add`` never blocks and never raises; ``flush`` writes what is buffered now (tests and
    shutdown); ``close`` stops the thread after a final flush.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        flush_interval_s: float = 0.5,
        batch_size: int = 2000,
        max_pending: int = 100_000,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self._engine = engine
        self._interval = flush_interval_s
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._on_error = on_error
        self._pending: deque[tuple[sa.Table, dict[str, Any]]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.failed_batches = 0

    def start(self) -> CaptureWriter:
        """Start the background writer (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="ssmas-pricing-capture", daemon=True
            )
            self._thread.start()
        return self

    def add(self, table: sa.Table, row: dict[str, Any]) -> bool:
        """Queue one row for ``table``; False (and counted) when the buffer is full."""
        if len(self._pending) >= self._max_pending:
            DROPPED.inc()
            return False
        self._pending.append((table, row))
        if len(self._pending) >= self._batch_size:
            self._wake.set()
        return True

    def add_many(self, table: sa.Table, rows: list[dict[str, Any]]) -> int:
        """Queue several rows; returns how many were accepted."""
        room = max(0, self._max_pending - len(self._pending))
        accepted = rows[:room]
        if len(accepted) < len(rows):
            DROPPED.inc(len(rows) - len(accepted))
        self._pending.extend((table, row) for row in accepted)
        if len(self._pending) >= self._batch_size:
            self._wake.set()
        return len(accepted)

    @property
    def pending(self) -> int:
        """Rows waiting to be written."""
        return len(self._pending)

    def flush(self) -> int:
        """Write everything buffered so far; returns the number of rows written."""
        with self._flush_lock:
            grouped: dict[str, tuple[sa.Table, list[dict[str, Any]]]] = {}
            for _ in range(len(self._pending)):
                table, row = self._pending.popleft()
                grouped.setdefault(table.name, (table, []))[1].append(row)
            return sum(self._write(table, rows) for table, rows in grouped.values())

    def _write(self, table: sa.Table, rows: list[dict[str, Any]]) -> int:
        """Insert ``rows``; returns how many were committed (the rest are counted dropped)."""
        committed = 0

        def count(n: int) -> None:
            nonlocal committed
            committed += n
            WRITTEN.labels(table.name).inc(n)

        try:
            store.insert_rows(self._engine, table, rows, on_commit=count)
        except SQLAlchemyError as exc:
            self.failed_batches += 1
            lost = len(rows) - committed
            DROPPED.inc(lost)
            _log.warning("capture_write_failed", table=table.name, rows=lost, error=str(exc))
            if self._on_error is not None:
                self._on_error(exc)
        return committed

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the writer thread and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._pending:
                self.flush()
