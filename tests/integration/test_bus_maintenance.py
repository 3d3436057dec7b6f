"""Backlog figures and clean-up of groups and consumers, on SQLite, through InstrumentedBus and on
Redis: what the worker processes' gauges and janitor rely on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from ssmas.core.bus import Bus, open_bus
from ssmas.core.bus.instrumented import InstrumentedBus
from ssmas.core.bus.maintenance import BacklogCollector, Janitor, backlogs

BACKENDS = ["sqlite", "instrumented", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=BACKENDS)
def bus(request: pytest.FixtureRequest, tmp_path: Path) -> Bus:
    if request.param == "redis":
        opened: Bus = open_bus(str(request.getfixturevalue("redis_url")))
    else:
        opened = open_bus(str(tmp_path / "bus.db"))
        if request.param == "instrumented":
            opened = InstrumentedBus(opened)
    request.addfinalizer(opened.close)
    return opened


def test_backlog_counts_unacked_and_ages_the_oldest(bus: Bus) -> None:
    bus.publish_batch("t.work", [(None, {"n": i}) for i in range(5)])
    assert backlogs(bus) == []  # no group yet: nothing owed to anyone
    got = bus.consume("t.work", "g", "c1", max_messages=2)
    time.sleep(0.05)
    [b] = backlogs(bus)
    assert (b.topic, b.group, b.messages) == ("t.work", "g", 5)  # 2 held + 3 not handed out
    assert b.oldest is not None and b.oldest <= got[0].message.published_at
    bus.ack(got)
    [b] = backlogs(bus)
    assert b.messages == 3
    rest = bus.consume("t.work", "g", "c1", max_messages=10)
    bus.ack(rest)
    [b] = backlogs(bus)
    assert (b.messages, b.oldest) == (0, None)

    registry = CollectorRegistry()
    bus.publish("t.work", {"n": 9})
    registry.register(BacklogCollector(bus))
    text = generate_latest(registry).decode()
    assert 'ssmas_bus_backlog_count{group="g",topic="t.work"} 1.0' in text
    assert 'ssmas_bus_backlog_age_seconds{group="g",topic="t.work"}' in text


def test_janitor_drops_groups_of_gone_processes_and_idle_consumers(bus: Bus) -> None:
    bus.publish("t.models", {"n": 1})
    for group in ("pricing-serving-11-aa", "pricing-serving-12-bb", "keep"):
        bus.ack(bus.consume("t.models", group, "host-1", max_messages=10))
    janitor = Janitor(bus, group_prefixes=["pricing-serving-"], consumer_idle_s=0.0)
    time.sleep(0.01)
    groups, _consumers = janitor.sweep()
    assert groups == 2
    assert [b.group for b in backlogs(bus)] == ["keep"]
    assert janitor.sweep()[0] == 0  # idempotent
    # the kept group still works and still sees what it acked as done
    bus.publish("t.models", {"n": 2})
    assert [d.message.payload["n"] for d in bus.consume("t.models", "keep", "c")] == [2]


@pytest.mark.redis
def test_redis_forgets_idle_consumers_that_hold_nothing(redis_url: str) -> None:
    bus = open_bus(redis_url)
    try:
        bus.publish_batch("t.c", [(None, {"n": i}) for i in range(2)])
        bus.ack(bus.consume("t.c", "g", "dead-host-1", max_messages=1))
        held = bus.consume("t.c", "g", "dead-host-2", max_messages=1)  # still holds one
        time.sleep(0.05)
        assert Janitor(bus, consumer_idle_s=0.01).sweep() == (0, 1)
        client = bus._ops  # type: ignore[attr-defined]
        names = {c["name"] for c in client.xinfo_consumers("ssmas:bus:s:t.c", "g")}
        assert names == {"dead-host-2"}
        bus.ack(held)
    finally:
        bus.close()


def test_forget_deletes_chosen_messages_for_every_group(bus: Bus) -> None:
    ids = bus.publish_batch("t.pii", [("k0", {"n": 0}), ("k1", {"n": 1}), (None, {"n": 2})])
    [held] = bus.consume("t.pii", "g", "c", visibility_timeout_s=0.05)  # n=0, will expire
    assert held.message.id == ids[0]
    forget = getattr(bus, "forget")  # noqa: B009 - an operations extra, not part of the port
    assert forget("t.pii", [ids[0], ids[1], "no-such-id"]) == 2
    assert forget("t.pii", [ids[0]]) == 0  # idempotent
    assert [m.payload["n"] for m in bus.replay("t.pii")] == [2]
    time.sleep(0.06)
    # neither redelivered to the group that held one, nor handed to any group
    got = bus.consume("t.pii", "g", "c", max_messages=10)
    assert [d.message.payload["n"] for d in got] == [2]
    bus.ack(got)
    fresh = bus.consume("t.pii", "fresh", "c", max_messages=10)
    assert [d.message.payload["n"] for d in fresh] == [2]
    assert bus.replay("t.pii.dlq") == []
    # the keys are free again: a new message with a forgotten key is stored
    again = bus.publish("t.pii", {"n": 9}, key="k1")
    assert again != ids[1] and [m.payload["n"] for m in bus.replay("t.pii")] == [2, 9]
    assert [b.messages for b in backlogs(bus) if b.group == "g"] == [1]


def test_janitor_drops_the_leases_of_processes_gone_long_ago(tmp_path: Path) -> None:
    from ssmas.core.db import make_engine, make_session_factory, upgrade
    from ssmas.core.leases import LeaseStore

    url = f"sqlite:///{tmp_path / 'leases.db'}"
    upgrade(url)
    now = [1000.0]
    store = LeaseStore(make_session_factory(make_engine(url)), lambda: now[0])
    store.take(["member:assistant:host-1", "assistant:text"], "host-1", 3.0)  # died at 1000
    now[0] = 1500.0
    store.take(["member:assistant:host-2"], "host-2", 3.0)  # alive
    bus = open_bus(str(tmp_path / "bus.db"))
    try:
        Janitor(bus, leases=store, lease_grace_s=300.0).sweep()
    finally:
        bus.close()
    assert store.live("") == {"member:assistant:host-2": "host-2"}
    now[0] = 1000.0  # nothing of host-1 is left, even counting expired rows
    assert store.live("member:assistant:host-1") == {} and store.live("assistant:") == {}
