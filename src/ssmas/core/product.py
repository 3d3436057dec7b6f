"""The product contract: what a product gives the platform, declared once in its own package.

A product (pricing, the assistant, the simulated exchange, the dashboard shell…) declares one
:class:`Product` in ``ssmas/<product>/product.py``; the composition root (``ssmas.bootstrap``)
lists those modules once, and the API app, ``ssmas up``, ``ssmas worker NAME``, the CLI and the
demo all read that one list. Everything a product names is a ``"module:attribute"`` string,
imported only when it is used, so ``ssmas --help`` imports no product code and a worker process
never imports the dashboard.

What each field names:

- ``routers``: FastAPI ``APIRouter`` objects mounted on the API app (JSON endpoints).
- ``pages``: ``APIRouter`` objects of dashboard pages (HTML; mounted the same way).
- ``start``: ``start(platform) -> Callable[[], object] | None``, called once when the API app
  starts; it builds the product's runtime, attaches it to the platform
  (``platform.attach(name, runtime)``), adds readiness checks to ``platform.checks`` and returns
  the teardown, if any.
- ``workers``: named background loops ``run(platform, stop)`` that return soon after the
  ``threading.Event`` ``stop`` is set; ``ssmas up`` runs every product's, each in a process of
  its own that it supervises (``ssmas.ops.healing``), ``ssmas worker NAME`` one product's
  (``--only`` picks some of them).
- ``cli``: a Typer app, mounted as the sub-command named after the product.
- ``demo``: the product's demo scenario, a loop like a worker that ``ssmas demo`` adds.
- ``settings_section``: the attribute of :class:`ssmas.settings.Settings` holding the product's
  settings (documentation and the settings reference; ``None`` when it has none).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["Product", "ProductError", "WorkerSpec", "resolve"]


class ProductError(ValueError):
    """A product declaration or a name it gives cannot be used."""


def resolve(spec: str) -> Any:
    """Import ``"module:attribute"`` and return the attribute."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ProductError(f"{spec!r} is not of the form 'module:attribute'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ProductError(f"{module_name} has no attribute {attribute!r}") from None


@dataclass(frozen=True)
class WorkerSpec:
    """One named background loop of a product: ``target`` is ``"module:function"``.

    For ``ssmas up``'s supervisor (``ssmas.ops.healing``): ``groups`` are the bus consumer
    groups the loop drains (their backlog says when it falls behind); ``max_replicas`` > 1 says
    several processes may run it at once (competing consumers or leased partitions), so the
    supervisor may add processes up to that many when its groups' backlog grows.
    """

    name: str
    target: str
    groups: tuple[str, ...] = ()
    max_replicas: int = 1

    def __post_init__(self) -> None:
        if self.max_replicas < 1:
            raise ProductError(f"worker {self.name!r}: max_replicas must be >= 1")


@dataclass(frozen=True)
class Product:
    """Everything one product plugs into the platform (see the module docstring)."""

    name: str
    summary: str
    routers: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()
    start: str | None = None
    workers: tuple[WorkerSpec, ...] = ()
    cli: str | None = None
    demo: str | None = None
    settings_section: str | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ProductError(f"product name {self.name!r} must be a lower-case identifier")
        names = [w.name for w in self.workers]
        if len(set(names)) != len(names):
            raise ProductError(f"product {self.name!r} names a worker twice: {names}")

    def worker(self, name: str) -> WorkerSpec:
        """The worker called ``name``; :class:`ProductError` naming the known ones otherwise."""
        for spec in self.workers:
            if spec.name == name:
                return spec
        known = ", ".join(w.name for w in self.workers) or "none"
        raise ProductError(f"{self.name} has no worker {name!r} (known: {known})")
