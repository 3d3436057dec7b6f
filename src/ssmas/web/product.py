"""The dashboard shell as a product: login, navigation and the platform's own pages."""

from __future__ import annotations

from ssmas.core.product import Product

PRODUCT = Product(
    name="web",
    summary="The dashboard: login, navigation, platform health and traffic pages.",
    pages=("ssmas.web.routes:router",),
)
