"""What the AdOps agents' integration tests share: a simulated clock the test moves by hand and
a SQLite database migrated to the head (the agents' tables, incidents and the audit log)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from ssmas.adops.agents.sim import utc
from ssmas.core.db import make_engine
from ssmas.core.db.migrate import upgrade

T0 = utc(2024, 10, 21, 10)


class Clock:
    """Simulated time: ``now`` until the test sets it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def migrated_sqlite(path: Path) -> Iterator[sa.Engine]:
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
