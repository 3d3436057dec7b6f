"""The composition root: the platform's products, listed once, and the app built from them.

Each product declares one :class:`~ssmas.core.product.Product` as ``PRODUCT`` in its package's
``product`` module. ``PRODUCT_MODULES`` lists those modules, and everything that runs products
reads it: the API app (:func:`create_app`), ``ssmas up``, ``ssmas worker NAME``, the CLI's
sub-commands and ``ssmas demo``. Adding a product is its own package plus one line here.
Core (``ssmas.core``) imports neither this module nor any product.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from ssmas.core.product import Product, ProductError

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from ssmas.core.platform import Platform
    from ssmas.settings import Settings

__all__ = ["PRODUCT_MODULES", "all_products", "create_app", "find_product", "load_products"]

PRODUCT_MODULES: tuple[str, ...] = (
    "ssmas.web.product",
    "ssmas.exchange.product",
    "ssmas.pricing.product",
    "ssmas.assistant.product",
    "ssmas.adops.product",
    "ssmas.campaigns.product",
    "ssmas.ops.product",
)


def load_products(modules: Sequence[str]) -> tuple[Product, ...]:
    """The ``PRODUCT`` of each module, in order; a missing one or a name used twice is a
    :class:`ProductError`."""
    found: list[Product] = []
    for module_name in modules:
        product = getattr(importlib.import_module(module_name), "PRODUCT", None)
        if not isinstance(product, Product):
            raise ProductError(f"{module_name} has no PRODUCT of type Product")
        if any(p.name == product.name for p in found):
            raise ProductError(f"two products are called {product.name!r}")
        found.append(product)
    return tuple(found)


@lru_cache(maxsize=1)
def all_products() -> tuple[Product, ...]:
    """The platform's products (from :data:`PRODUCT_MODULES`)."""
    return load_products(PRODUCT_MODULES)


def find_product(name: str, among: Sequence[Product] | None = None) -> Product:
    """The product called ``name``; a :class:`ProductError` naming the known ones otherwise."""
    candidates = all_products() if among is None else among
    for product in candidates:
        if product.name == name:
            return product
    known = ", ".join(p.name for p in candidates)
    raise ProductError(f"no product called {name!r} (known: {known})")


def create_app(
    platform: Platform | None = None,
    *,
    settings: Settings | None = None,
    products: Sequence[Product] | None = None,
    routers: Sequence[APIRouter] = (),
    lean: bool = True,
    tune_process: bool = False,
) -> FastAPI:
    """:func:`ssmas.core.api.create_app` with the platform's products (or ``products``)."""
    from ssmas.core.api import create_app as create_core_app

    return create_core_app(
        platform,
        settings=settings,
        products=all_products() if products is None else products,
        routers=routers,
        lean=lean,
        tune_process=tune_process,
    )
