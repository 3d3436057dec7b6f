"""Worker leases on SQLite and PostgreSQL: one owner at a time, expiry, takeover, fair share."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ssmas.core.db import make_engine, make_session_factory, upgrade
from ssmas.core.leases import LeaderLease, LeaseStore, PartitionLeases, Taken


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> sessionmaker[Session]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'leases.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade(url)
    return make_session_factory(make_engine(url))


def test_one_owner_until_expiry_then_takeover(factory: sessionmaker[Session]) -> None:
    clock = Clock()
    store = LeaseStore(factory, clock)
    name = f"t-{uuid.uuid4().hex[:8]}:p0"
    assert [t.name for t in store.take([name], "a", 3.0)] == [name]
    assert store.take([name], "b", 3.0) == []  # held by a
    clock.now += 2.0
    assert store.take([name], "a", 3.0)[0].previous is None  # a renews its own lease
    clock.now += 2.5
    assert store.take([name], "b", 3.0) == []  # renewed: still a's
    clock.now += 1.0
    [taken] = store.take([name], "b", 3.0)  # a stopped renewing: b takes over
    assert taken.previous == "a"
    assert store.take([name], "a", 3.0) == []
    store.release([name], "a")  # not a's any more: nothing happens
    assert store.live(name) == {name: "b"}
    store.release([name], "b")
    assert store.live(name) == {}
    assert store.take([name], "a", 3.0)[0].previous is None  # released, not expired


def test_partitions_split_between_members_and_settle_after_takeover(
    factory: sessionmaker[Session],
) -> None:
    clock = Clock()
    store = LeaseStore(factory, clock)
    scope = f"s{uuid.uuid4().hex[:8]}"
    names = [f"{scope}:topic.p{k}" for k in range(4)]
    a = PartitionLeases(store, scope, names, "a", ttl_s=3.0, settle_s=8.0, clock=clock)
    b = PartitionLeases(store, scope, names, "b", ttl_s=3.0, settle_s=8.0, clock=clock)
    a.refresh(force=True)
    assert sorted(a.owned()) == names  # alone: every partition
    b.refresh(force=True)
    assert b.owned() == []  # all taken
    a.refresh(force=True)  # a sees two members and gives half back
    b.refresh(force=True)
    assert len(a.owned()) == 2 and len(b.owned()) == 2
    assert set(a.owned()) | set(b.owned()) == set(names)
    b_had = set(b.owned())
    clock.now += 4.0  # b dies: its leases run out; a takes them but waits settle_s
    a.refresh(force=True)
    assert set(a.owned()) == set(names) - b_had
    clock.now += 8.0
    a.refresh(force=True)
    assert sorted(a.owned()) == names
    a.release_all()
    assert store.live(f"{scope}:") == {}


def test_shares_are_fair_in_each_pool(factory: sessionmaker[Session]) -> None:
    """A router queue of one partition and a text queue of four: without pools the first
    member keeps three text partitions and the second gets the router and one; with them each
    holds two text partitions, whoever holds the router."""
    clock = Clock()
    store = LeaseStore(factory, clock)
    scope = f"s{uuid.uuid4().hex[:8]}"
    router = f"{scope}:router"
    text = [f"{scope}:text.p{k}" for k in range(4)]
    names = [router, *text]

    def pool(name: str) -> str:
        return name.split(":", 1)[1].split(".", 1)[0]

    def members(pooled: bool) -> list[PartitionLeases]:
        kw = {"pool": pool} if pooled else {}
        return [PartitionLeases(store, scope, names, m, clock=clock, **kw) for m in "ab"]

    def settle(ms: list[PartitionLeases]) -> list[set[str]]:
        for _ in range(3):
            for m in ms:
                m.refresh(force=True)
        return [set(m.owned()) for m in ms]

    a, b = members(pooled=False)
    a.refresh(force=True)  # alone first, as the first worker of a deployment is
    held = settle([a, b])
    assert sorted(len(h & set(text)) for h in held) == [1, 3]  # the share counted over all
    a.release_all()
    b.release_all()

    a, b = members(pooled=True)
    a.refresh(force=True)
    assert set(a.owned()) == set(names)  # alone: every partition of every pool
    held = settle([a, b])
    assert [len(h & set(text)) for h in held] == [2, 2]
    assert held[0] | held[1] == set(names) and not held[0] & held[1]
    clock.now += 4.0  # b dies: a takes the rest of every pool back
    a.refresh(force=True)
    assert set(a.owned()) == set(names)


def test_a_taken_partition_is_owned_only_once_claimed(factory: sessionmaker[Session]) -> None:
    clock = Clock()
    store = LeaseStore(factory, clock)
    scope = f"s{uuid.uuid4().hex[:8]}"
    names = [f"{scope}:topic.p{k}" for k in range(2)]
    claims: list[str] = []
    released: list[str] = []
    failing = {names[1]}

    def claim(name: str) -> None:
        if name in failing:
            raise ConnectionError("bus away")
        claims.append(name)

    a = PartitionLeases(
        store, scope, names, "a", clock=clock, on_take=claim, on_release=released.append
    )
    a.refresh(force=True)
    assert a.owned() == [names[0]]  # the other is leased but not claimed: not read yet
    assert store.live(f"{scope}:topic") == {n: "a" for n in names}
    failing.clear()
    a.refresh(force=True)  # the claim is retried while the lease is held
    assert sorted(a.owned()) == names and claims == names
    b = PartitionLeases(store, scope, names, "b", clock=clock, on_take=claim)
    b.refresh(force=True)
    a.refresh(force=True)  # two members: a gives one back and says so
    assert len(a.owned()) == 1 and len(released) == 1
    b.refresh(force=True)
    assert b.owned() == released and claims[-1] == released[0]  # b claimed it before reading


def test_one_leader_at_a_time_and_a_takeover_when_it_stops_renewing(
    factory: sessionmaker[Session],
) -> None:
    clock = Clock()
    store = LeaseStore(factory, clock)
    name = f"lead-{uuid.uuid4().hex[:8]}"
    a = LeaderLease(store, name, "a", ttl_s=30.0, clock=clock)
    b = LeaderLease(store, name, "b", ttl_s=30.0, clock=clock)
    assert a.renew() and a.is_leader()
    assert not b.renew() and not b.is_leader()
    clock.now += 20.0
    assert a.renew() and not b.renew()  # renewed in time: still a's
    clock.now += 31.0  # a stops renewing (dead, or its database calls fail)
    assert not a.is_leader()  # it knows not to act any more, before anyone took over
    assert b.renew() and b.is_leader()
    assert not a.renew() and not a.is_leader()
    b.release()  # a clean stop: the next one leads at once
    assert not b.is_leader() and a.renew()


def test_a_leader_whose_database_is_away_stops_leading_when_its_lease_would_end(
    factory: sessionmaker[Session],
) -> None:
    clock = Clock()
    name = f"lead-{uuid.uuid4().hex[:8]}"

    class Away(LeaseStore):
        def take(self, names: Sequence[str], owner: str, ttl_s: float) -> list[Taken]:
            raise ConnectionError("database away")

    lead = LeaderLease(LeaseStore(factory, clock), name, "a", ttl_s=30.0, clock=clock)
    assert lead.renew()
    lead.store = Away(factory, clock)
    clock.now += 10.0
    assert lead.renew() and lead.is_leader()  # the lease still runs
    clock.now += 25.0
    assert not lead.renew() and not lead.is_leader()
