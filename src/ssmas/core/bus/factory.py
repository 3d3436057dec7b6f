"""Pick a bus backend from a URL: a path or ``sqlite:///path`` is SQLite, ``redis://`` is Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from ssmas.core.bus.base import Bus, InvalidBusInput

if TYPE_CHECKING:
    from ssmas.settings import Settings

REDIS_SCHEMES = ("redis", "rediss", "unix")


def parse_bus_url(url: str) -> tuple[str, str, str | None]:
    """Split a bus URL into ``(backend, target, key prefix)`` without touching anything.

    SQLite targets are file paths (``:memory:`` allowed); a Redis URL may carry ``?prefix=`` to
    namespace its keys, which is taken out before the URL reaches redis-py.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidBusInput("bus URL is empty")
    url = url.strip()
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in REDIS_SCHEMES:
        parts = urlsplit(url)
        query = parse_qs(parts.query, keep_blank_values=True)
        prefix = query.pop("prefix", [None])[-1]
        if prefix == "":
            raise InvalidBusInput("bus URL prefix= must not be empty")
        rest = urlencode(query, doseq=True)
        return "redis", urlunsplit(parts._replace(query=rest)), prefix
    if scheme == "sqlite":
        path = url[len("sqlite://") :]
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise InvalidBusInput(f"bus URL {url!r} names no file: use sqlite:///path/to/bus.db")
        return "sqlite", path, None
    if scheme:
        raise InvalidBusInput(
            f"unknown bus URL scheme {scheme!r}: use a path, sqlite:// or redis://"
        )
    return "sqlite", url, None


def open_bus(url: str, *, max_deliveries: int = 5) -> Bus:
    """Open the bus a URL names; nothing connects before this call (Redis connects lazily)."""
    backend, target, prefix = parse_bus_url(url)
    if backend == "redis":
        from ssmas.core.bus.redis import DEFAULT_PREFIX, RedisBus

        return RedisBus(target, max_deliveries=max_deliveries, prefix=prefix or DEFAULT_PREFIX)
    from ssmas.core.bus.sqlite import SqliteBus

    return SqliteBus(target, max_deliveries=max_deliveries)


def bus_from_settings(settings: Settings) -> Bus:
    """The bus the settings name (``SSMAS_BUS_URL`` or the default under the data directory),
    with Prometheus figures (``InstrumentedBus``)."""
    from ssmas.core.bus.instrumented import InstrumentedBus

    url = settings.resolved_bus_url
    if parse_bus_url(url)[0] == "sqlite":
        settings.ensure_dirs()
    return InstrumentedBus(open_bus(url))
