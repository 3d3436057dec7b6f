"""Durable topics with consumer groups (SQLite embedded, Redis Streams to scale out).

Open one with ``open_bus(url)`` or ``bus_from_settings(settings)``; see ``docs/bus.md``.
"""

from __future__ import annotations

from ssmas.core.bus.base import (
    DLQ_SUFFIX,
    Bus,
    BusClosed,
    BusError,
    Delivery,
    InvalidBusInput,
    Message,
    dlq_topic,
)
from ssmas.core.bus.factory import bus_from_settings, open_bus, parse_bus_url

__all__ = [
    "DLQ_SUFFIX",
    "Bus",
    "BusClosed",
    "BusError",
    "Delivery",
    "InvalidBusInput",
    "Message",
    "bus_from_settings",
    "dlq_topic",
    "open_bus",
    "parse_bus_url",
]
