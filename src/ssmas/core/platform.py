"""One process's adapters: settings → database, bus and cache as one ``Platform``.

Every process (API server, worker, CLI command, test) builds its adapters with
``build_platform`` and nowhere else; nothing connects at import time. ``build_platform`` migrates
the database, opens the bus and the cache; ``Platform.close`` releases them, and first the
products' runtimes attached to it (:meth:`Platform.attach`): a product keeps its per-process
state (a model service, a WhatsApp client) on the platform it was built for, never in a
module-level dictionary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ssmas.core.bus.base import Bus
from ssmas.core.cache import Cache
from ssmas.core.db import UnitOfWork, make_engine, make_session_factory, upgrade
from ssmas.settings import Settings

__all__ = ["Platform", "ReadinessCheck", "build_platform"]

ReadinessCheck = Callable[[], object]
R = TypeVar("R")

_READINESS_TOPIC = "ssmas.readiness"
_READINESS_KEY = "ssmas:readiness"


@dataclass
class Platform:
    """The adapters one process shares: settings, database, bus and cache.

    ``checks`` holds extra readiness checks (name → callable raising on failure) that products
    add when they start; ``/ready`` runs them beside the built-in ones. ``runtimes`` holds each
    product's per-process state under the product's name (:meth:`attach`, :meth:`runtime`).
    """

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    bus: Bus
    cache: Cache
    # SSMAS_SECRET_KEY, else the data directory's random one (ssmas.core.security.secret_file)
    secret_key: str = field(default="", repr=False)
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    runtimes: dict[str, Any] = field(default_factory=dict)
    closed: bool = False
    _runtime_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _build_locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)

    def uow(self) -> UnitOfWork:
        """A new unit of work on the platform database."""
        return UnitOfWork(self.session_factory)

    def attach(self, name: str, runtime: object) -> None:
        """Keep ``runtime`` as ``name``'s state for this platform (replacing any earlier one).

        A runtime with a ``close()`` method is closed by :meth:`close`, or by :meth:`detach`'s
        caller; the one it replaces is not closed (the caller owns it).
        """
        with self._runtime_lock:
            self.runtimes[name] = runtime

    def detach(self, name: str) -> Any:
        """Forget ``name``'s runtime and return it (``None`` when there was none)."""
        with self._runtime_lock:
            return self.runtimes.pop(name, None)

    def runtime(self, name: str, kind: type[R]) -> R | None:
        """``name``'s runtime if one is attached; a runtime of another type is a wiring bug."""
        found = self.runtimes.get(name)
        if found is not None and not isinstance(found, kind):
            raise TypeError(f"runtime {name!r} is a {type(found).__name__}, not {kind.__name__}")
        return found

    def runtime_or_build(self, name: str, kind: type[R], build: Callable[[Platform], R]) -> R:
        """``name``'s runtime, built by ``build(self)`` and attached on first use.

        One build per name at a time: a second caller waits for the first one's runtime, while
        callers of other names are not held up by a slow build (a model loading).
        """
        with self._runtime_lock:
            found = self.runtime(name, kind)
            if found is not None:
                return found
            building = self._build_locks.setdefault(name, threading.Lock())
        with building:
            found = self.runtime(name, kind)
            if found is None:
                found = build(self)
                self.attach(name, found)
            return found

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        """Built-in checks (``db``, ``bus``, ``cache``) followed by the products' ones."""
        return {
            "db": self._check_db,
            "bus": self._check_bus,
            "cache": self._check_cache,
            **self.checks,
        }

    def close(self) -> None:
        """Close the attached runtimes (last attached first), then the bus and the cache, and
        dispose of the engine; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        with self._runtime_lock:
            runtimes = list(self.runtimes.values())
            self.runtimes.clear()
        with ExitStack() as stack:
            stack.callback(self.engine.dispose)
            stack.callback(self.cache.close)
            stack.callback(self.bus.close)
            for runtime in runtimes:
                close = getattr(runtime, "close", None)
                if callable(close):
                    stack.callback(close)

    def _check_db(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    def _check_bus(self) -> None:
        ping = getattr(self.bus, "ping", None)
        if callable(ping):
            ping()
        else:
            self.bus.replay(_READINESS_TOPIC, limit=1)

    def _check_cache(self) -> None:
        self.cache.get(_READINESS_KEY)


def build_platform(settings: Settings) -> Platform:
    """Read (or make) the platform secret, migrate the database to head, then open engine, bus
    and cache from ``settings``."""
    from ssmas.core.bus import bus_from_settings
    from ssmas.core.cache import open_cache
    from ssmas.core.security.secret_file import resolve_secret_key

    settings.ensure_dirs()
    secret_key = resolve_secret_key(settings)
    url = settings.resolved_database_url
    upgrade(url)
    with ExitStack() as undo:
        engine = make_engine(url)
        undo.callback(engine.dispose)
        bus = bus_from_settings(settings)
        undo.callback(bus.close)
        cache = open_cache(settings)
        undo.pop_all()
    return Platform(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        bus=bus,
        cache=cache,
        secret_key=secret_key,
    )
