"""Leases in the shared database: which worker process owns a named thing, until when.

A lease is a row ``(name, owner, expires_at_s)`` in ``worker_leases``. ``take`` gets or renews
a lease in one ``INSERT … ON CONFLICT DO UPDATE … WHERE`` (atomic on PostgreSQL and SQLite):
the row changes only when it is free, expired or already ours. A process that dies simply stops
renewing; its leases expire after their ``ttl_s`` and another process takes them over.

``PartitionLeases`` uses them to split partitioned topics between the worker processes alive:
each process keeps a membership lease and owns at most its fair share of the partitions
(``ceil(partitions / members)``), so a partition is consumed by one process at a time and the
messages of one key (a customer) are handled in order by one consumer.

A lease alone cannot promise that: a process whose lease ran out may still be running (stalled,
or between its last check and its next read), and a process that died held messages it never
acknowledged. So every partition taken — from a dead owner, from one that gave it back, or
fresh — is first *claimed* with ``on_take`` before it counts as owned: the worker reserves the
partition's topic on the bus for itself (``reserve``: the bus then hands nothing of it to any
other consumer, a fence the old owner cannot pass) and makes everything the old owner held due
at once, so those messages come back first and in offset order, before anything newer. Given
no ``on_take`` (a bus that cannot reserve), a partition taken over from an expired owner is
instead held back for ``settle_s`` (the longest visibility timeout of its subscriptions), which
only holds while nothing hands the partition on before it has settled.

``LeaderLease`` is one named lease for work that must run in one process at a time however many
run (the pricing product's retraining and promotion checks): whoever holds it leads until it
stops renewing.

Clocks: expiry times are the processes' own clocks; hosts must keep them in sync (NTP) to well
under the lease's ttl.
"""

from __future__ import annotations

import math
import threading
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

    ``names`` are the partitions to share (one lease each); ``owned()`` are those held now and
    claimed: ``on_take(name)`` returned for them (it is retried at each refresh while it
    raises), or, without ``on_take``, their takeover wait (``settle_s``) has passed.
    ``on_release(name)`` is called for each partition given back. ``keep_alive`` renews the
    membership and what is held without changing anything else (a heartbeat thread calls it
    while the consuming loop is busy with a long batch); the methods are thread-safe.

    ``pool(name)`` groups the partitions whose work is alike (the partitions of one queue):
    the fair share is taken in each pool, so two members of a one-partition router queue and a
    four-partition text queue hold two text partitions each, not three and one.
    """

    store: LeaseStore
    scope: str
    names: Sequence[str]
    owner: str
    ttl_s: float = 3.0
    settle_s: float = 0.0
    renew_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    on_take: Callable[[str], None] | None = None
    on_release: Callable[[str], None] | None = None
    pool: Callable[[str], str] | None = None
    _held: dict[str, float] = field(default_factory=dict)  # name → usable from (clock)
    _unclaimed: set[str] = field(default_factory=set)  # held, ``on_take`` not done yet
    _next: float = 0.0
    _renewed: float = -math.inf
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def member(self) -> str:
        return f"{MEMBER_PREFIX}{self.scope}:{self.owner}"

    def owned(self) -> list[str]:
        with self._lock:
            now = self.clock()
            if now - self._renewed > self.ttl_s:  # renewals failing: what we held may be taken
                return []
            return [
                name
                for name, usable in self._held.items()
                if usable <= now and name not in self._unclaimed
            ]

    def keep_alive(self) -> None:
        """Renew the membership and the partitions held; nothing is taken or given back."""
        with self._lock:
            self._renew(self.clock())

    def _renew(self, now: float) -> None:
        self.store.take([self.member], self.owner, self.ttl_s)
        renewed = {t.name for t in self.store.take(list(self._held), self.owner, self.ttl_s)}
        self._renewed = now
        for name in list(self._held):
            if name not in renewed:
                log.warning("partition_lost", partition=name, owner=self.owner)
                del self._held[name]
                self._unclaimed.discard(name)

    def refresh(self, force: bool = False) -> None:
        """Renew what is held, take free partitions up to the fair share, give back extras."""
        with self._lock:
            now = self.clock()
            if not force and now < self._next:
                return
            self._next = now + self.renew_s
            self._rebalance(now)

    def _rebalance(self, now: float) -> None:
        self._renew(now)
        members = max(1, len(self.store.live(f"{MEMBER_PREFIX}{self.scope}:")))
        wanted: list[str] = []
        busy: dict[str, str] | None = None  # read once, when some pool has room
        for names in self._pools():
            share = math.ceil(len(names) / members)
            held = [n for n in names if n in self._held]
            extra = len(held) - share
            if extra > 0:
                # unclaimed ones first: nothing of theirs has been read here
                give = sorted(held, key=lambda n: (n not in self._unclaimed, n))[:extra]
                self._give_back(give)
                log.info("partitions_released", partitions=give, members=members)
            elif extra < 0:
                if busy is None:
                    busy = self.store.live(f"{self.scope}:")
                wanted += [n for n in names if n not in self._held and n not in busy][:-extra]
        for t in self.store.take(wanted, self.owner, self.ttl_s) if wanted else []:
            wait = self.settle_s if t.previous is not None and self.on_take is None else 0.0
            self._held[t.name] = now + wait
            if self.on_take is not None:
                self._unclaimed.add(t.name)
            log.info("partition_taken", partition=t.name, previous=t.previous, settle_s=wait)
        self._claim()

    def _pools(self) -> list[list[str]]:
        """``names`` by pool, in order (one pool without ``pool``)."""
        if self.pool is None:
            return [list(self.names)]
        pools: dict[str, list[str]] = {}
        for name in self.names:
            pools.setdefault(self.pool(name), []).append(name)
        return list(pools.values())

    def _claim(self) -> None:
        """Run ``on_take`` for the partitions taken and not claimed yet."""
        if self.on_take is None:
            return
        for name in sorted(self._unclaimed):
            try:
                self.on_take(name)
            except Exception as exc:  # not usable until claimed: retried at the next refresh
                log.warning("partition_claim_failed", partition=name, error=type(exc).__name__)
                continue
            self._unclaimed.discard(name)

    def _give_back(self, names: list[str]) -> None:
        self.store.release(names, self.owner)
        for name in names:
            del self._held[name]
            self._unclaimed.discard(name)
            if self.on_release is not None:
                try:
                    self.on_release(name)
                except Exception as exc:  # the next owner's claim replaces it anyway
                    log.warning(
                        "partition_unclaim_failed", partition=name, error=type(exc).__name__
                    )

    def release_all(self) -> None:
        """A clean stop: the partitions and the membership go back at once."""
        with self._lock:
            self._give_back(list(self._held))
            self.store.release([self.member], self.owner)


class LeaderLease:
    """One process at a time leads ``name``: ``is_leader()`` says whether this one does now.

    ``start`` renews (or tries to take) the lease every ``ttl_s / 3`` on a thread of its own, so
    a leader busy with long work (a training run) keeps it; a leader that dies or loses the
    database stops renewing and another process takes over after ``ttl_s``. ``is_leader`` is
    false as soon as a renewal is overdue (the lease may be someone else's by then), so a
    leader checks it again before an irreversible step (promoting a model).
    """

    def __init__(
        self,
        store: LeaseStore,
        name: str,
        owner: str,
        *,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.name = name
        self.owner = owner
        self.ttl_s = ttl_s
        self.clock = clock
        self._held_since: float | None = None  # clock at the start of the last good renewal
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def is_leader(self) -> bool:
        with self._lock:
            since = self._held_since
        return since is not None and self.clock() - since < self.ttl_s

    def renew(self) -> bool:
        """Take or renew the lease once; returns whether this process leads now."""
        began = self.clock()
        try:
            held = bool(self.store.take([self.name], self.owner, self.ttl_s))
        except Exception as exc:  # the database is away: lead no longer than the lease lasts
            log.warning("leader_renew_failed", lease=self.name, error=type(exc).__name__)
            return self.is_leader()
        with self._lock:
            was = self._held_since is not None
            self._held_since = began if held else None
        if held != was:
            log.info("leader_changed", lease=self.name, owner=self.owner, leading=held)
        return held

    def run(self, stop: threading.Event) -> None:
        """Renew until ``stop`` is set, then give the lease back."""
        try:
            while True:
                self.renew()
                if stop.wait(self.ttl_s / 3):
                    return
        finally:
            self.release()

    def start(self, stop: threading.Event) -> threading.Thread:
        self._thread = threading.Thread(
            target=self.run, args=(stop,), name=f"lease-{self.name}", daemon=True
        )
        self._thread.start()
        return self._thread

    def release(self) -> None:
        """Stop leading at once (a clean stop: no wait for expiry)."""
        with self._lock:
            self._held_since = None
        try:
            self.store.release([self.name], self.owner)
        except Exception as exc:
            log.warning("leader_release_failed", lease=self.name, error=type(exc).__name__)
