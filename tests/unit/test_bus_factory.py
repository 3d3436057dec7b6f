"""Choosing a backend from a URL, without opening anything."""

from __future__ import annotations

import pytest

from ssmas.core.bus import InvalidBusInput, parse_bus_url
from ssmas.core.bus.redis import RedisBus


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("bus.db", ("sqlite", "bus.db", None)),
        ("/var/lib/ssmas/bus.db", ("sqlite", "/var/lib/ssmas/bus.db", None)),
        (":memory:", ("sqlite", ":memory:", None)),
        ("sqlite:///data/bus.db", ("sqlite", "data/bus.db", None)),
        ("sqlite:////abs/bus.db", ("sqlite", "/abs/bus.db", None)),
        ("redis://127.0.0.1:6379/0", ("redis", "redis://127.0.0.1:6379/0", None)),
        ("rediss://h:6380/1?prefix=t1", ("redis", "rediss://h:6380/1", "t1")),
        (
            "redis://h/2?prefix=a&socket_timeout=5",
            ("redis", "redis://h/2?socket_timeout=5", "a"),
        ),
    ],
)
def test_urls_pick_their_backend(url: str, expected: tuple[str, str, str | None]) -> None:
    assert parse_bus_url(url) == expected


@pytest.mark.parametrize(
    "url", ["", "   ", "kafka://broker:9092", "sqlite://", "redis://h?prefix="]
)
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidBusInput):
        parse_bus_url(url)


def test_redis_bus_construction_does_not_connect() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0", max_deliveries=2)  # nothing listens on port 1
    assert bus.max_deliveries == 2
    bus.close()


def test_redis_bus_refuses_nonsense_limits() -> None:
    with pytest.raises(InvalidBusInput):
        RedisBus("redis://127.0.0.1:1/0", max_deliveries=0)
