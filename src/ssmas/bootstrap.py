"""The composition root: settings → adapters (database, bus, cache) → one ``Platform``.

Every process (API server, worker, CLI command, test) builds its adapters here and nowhere else;
nothing connects at import time. ``build_platform`` migrates the database, opens the bus and the
cache; ``Platform.close`` releases them.

Product routers are mounted by the API app factory from ``ROUTER_MODULES``: a product appends
``("ssmas.pricing.api", "router")``. The named attribute must be a FastAPI ``APIRouter``; the module
may also define ``setup(platform) -> Callable[[], None] | None``, called once when the app starts
(load a model, register readiness checks in ``platform.checks``, start a helper). A callable it
returns is called when the app stops.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ssmas.core.bus.base import Bus
from ssmas.core.cache import Cache
from ssmas.core.db import UnitOfWork, make_engine, make_session_factory, upgrade
from ssmas.settings import Settings

__all__ = ["ROUTER_MODULES", "Platform", "build_platform"]

ReadinessCheck = Callable[[], object]

# (module, attribute) of each product's APIRouter, mounted by ssmas.core.api.create_app.
ROUTER_MODULES: list[tuple[str, str]] = [
    ("ssmas.web.routes", "router"),
    ("ssmas.assistant.routes", "router"),
    ("ssmas.assistant.web", "router"),
    ("ssmas.pricing.api", "router"),
]

_READINESS_TOPIC = "ssmas.readiness"
_READINESS_KEY = "ssmas:readiness"


@dataclass
class Platform:
    """The adapters one process shares: settings, database, bus and cache.

    ``checks`` holds extra readiness checks (name → callable raising on failure) that products
    add in their ``setup`` hook; ``/ready`` runs them beside the built-in ones.
    """

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    bus: Bus
    cache: Cache
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    closed: bool = False

    def uow(self) -> UnitOfWork:
        """A new unit of work on the platform database."""
        return UnitOfWork(self.session_factory)

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        """Built-in checks (``db``, ``bus``, ``cache``) followed by the products' ones."""
        return {
            "db": self._check_db,
            "bus": self._check_bus,
            "cache": self._check_cache,
            **self.checks,
        }

    def close(self) -> None:
        """Close the bus and the cache and dispose of the engine; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        with ExitStack() as stack:
            stack.callback(self.engine.dispose)
            stack.callback(self.cache.close)
            stack.callback(self.bus.close)

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
    """Migrate the database to head, then open engine, bus and cache from ``settings``."""
    from ssmas.core.bus import bus_from_settings
    from ssmas.core.cache import open_cache

    settings.ensure_dirs()
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
    )
