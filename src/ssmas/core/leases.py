"""Leases in the shared database: which worker process owns a named thing, until when.

A lease is a row ``(name, owner, expires_at_s)`` in ``worker_leases``. ``take`` gets or renews
a lease in one ``INSERT … ON CONFLICT DO UPDATE … WHERE`` (atomic on PostgreSQL and SQLite):
the row changes only when it is free, expired or already ours. A process that dies simply stops
renewing; its leases expire after their ``ttl_s`` and another process takes them over.

``PartitionLeases`` uses them to split partitioned topics between the worker processes alive:
each process keeps a membership lease and owns at most its fair share of the partitions
(``ceil(partitions / members)``), so a partition is consumed by one process at a time and the
messages of one key (a customer) are handled in order by one consumer. A partition taken over
from a process whose lease expired is held back for ``settle_s`` (the longest visibility timeout
of its subscriptions): the dead owner's unacknowledged messages are then due again, and the bus
hands redeliveries out before new messages, so order holds across the takeover.

Clocks: expiry times are the processes' own clocks; hosts must keep them in sync (NTP) to well
under the lease's ttl.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ssmas.core.db.models import WorkerLease

log = structlog.get_logger("ssmas.leases")

MEMBER_PREFIX = "member:"


@dataclass(frozen=True)
class Taken:
    """A lease ``take`` obtained: ``previous`` is the owner it took over from (expired), if any."""

    name: str
    previous: str | None


class LeaseStore:
    """Named leases in the database of ``session_factory``."""

    def __init__(
        self, session_factory: sessionmaker[Session], clock: Callable[[], float] = time.time
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock

    def take(self, names: Sequence[str], owner: str, ttl_s: float) -> list[Taken]:
        """Take or renew each of ``names`` for ``owner``; returns those now held."""
        if not names:
            return []
        now = self.clock()
        held: list[Taken] = []
        with self.session_factory() as session:
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            table = sa.Table("worker_leases", WorkerLease.metadata)
            rows = session.execute(
                sa.select(WorkerLease.name, WorkerLease.owner, WorkerLease.expires_at_s).where(
                    WorkerLease.name.in_(names)
                )
            ).all()
            before = {row.name: (row.owner, row.expires_at_s) for row in rows}
            for name in names:
                stmt = insert(table).values(name=name, owner=owner, expires_at_s=now + ttl_s)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[table.c.name],
                    set_={"owner": stmt.excluded.owner, "expires_at_s": stmt.excluded.expires_at_s},
                    where=sa.or_(table.c.owner == owner, table.c.expires_at_s < now),
                )
                if session.execute(stmt.returning(table.c.name)).first() is None:
                    continue  # held by another process
                prior = before.get(name)
                previous = prior[0] if prior is not None and prior[0] != owner else None
                held.append(Taken(name, previous))
            session.commit()
        return held

    def release(self, names: Sequence[str], owner: str) -> None:
        """Give up ``names`` if ``owner`` holds them (a clean stop: no wait for expiry)."""
        if not names:
            return
        with self.session_factory() as session:
            session.execute(
                sa.delete(WorkerLease).where(
                    WorkerLease.name.in_(names), WorkerLease.owner == owner
                )
            )
            session.commit()

    def live(self, prefix: str) -> dict[str, str]:
        """Unexpired leases whose name starts with ``prefix``: name → owner."""
        now = self.clock()
        with self.session_factory() as session:
            rows = session.execute(
                sa.select(WorkerLease.name, WorkerLease.owner).where(
                    WorkerLease.name.startswith(prefix, autoescape=True),
                    WorkerLease.expires_at_s >= now,
                )
            ).all()
        return {row.name: row.owner for row in rows}

    def sweep(self, grace_s: float = 60.0) -> int:
        """Delete leases expired for more than ``grace_s`` (their owners are gone)."""
        with self.session_factory() as session:
            result = session.execute(
                sa.delete(WorkerLease).where(WorkerLease.expires_at_s < self.clock() - grace_s)
            )
            session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass
class PartitionLeases:
    """The partitions of ``scope`` this process owns, kept up to date by ``refresh``.

    ``names`` are the partitions to share (one lease each); ``owned()`` are those held now
    whose takeover wait (``settle_s``) has passed.
    """

    store: LeaseStore
    scope: str
    names: Sequence[str]
    owner: str
    ttl_s: float = 3.0
    settle_s: float = 0.0
    renew_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _held: dict[str, float] = field(default_factory=dict)  # name → usable from (clock)
    _next: float = 0.0
    _renewed: float = -math.inf

    @property
    def member(self) -> str:
        return f"{MEMBER_PREFIX}{self.scope}:{self.owner}"

    def owned(self) -> list[str]:
        now = self.clock()
        if now - self._renewed > self.ttl_s:  # renewals failing: what we held may be taken
            return []
        return [name for name, usable in self._held.items() if usable <= now]

    def refresh(self, force: bool = False) -> None:
        """Renew what is held, take free partitions up to the fair share, give back extras."""
        now = self.clock()
        if not force and now < self._next:
            return
        self._next = now + self.renew_s
        self.store.take([self.member], self.owner, self.ttl_s)
        members = max(1, len(self.store.live(f"{MEMBER_PREFIX}{self.scope}:")))
        share = math.ceil(len(self.names) / members)
        renewed = {t.name for t in self.store.take(list(self._held), self.owner, self.ttl_s)}
        self._renewed = now
        for name in list(self._held):
            if name not in renewed:
                log.warning("partition_lost", partition=name, owner=self.owner)
                del self._held[name]
        extra = len(self._held) - share
        if extra > 0:
            give = sorted(self._held)[-extra:]
            self.store.release(give, self.owner)
            for name in give:
                del self._held[name]
            log.info("partitions_released", partitions=give, members=members)
        room = share - len(self._held)
        if room <= 0:
            return
        free = [n for n in self.names if n not in self._held]
        taken = self.store.take(self._free(free)[:room], self.owner, self.ttl_s)
        for t in taken:
            wait = self.settle_s if t.previous is not None else 0.0
            self._held[t.name] = now + wait
            log.info("partition_taken", partition=t.name, previous=t.previous, settle_s=wait)

    def _free(self, candidates: list[str]) -> list[str]:
        busy = self.store.live(f"{self.scope}:")
        return [n for n in candidates if n not in busy]

    def release_all(self) -> None:
        """A clean stop: the partitions and the membership go back at once."""
        self.store.release([*self._held, self.member], self.owner)
        self._held.clear()
