"""The sample product's declaration: every part of the contract, each named once."""

from __future__ import annotations

from ssmas.core.product import Product, WorkerSpec

PRODUCT = Product(
    name="sample",
    summary="A sample product for the tests of the product contract.",
    routers=("tests.fakes.sample_product.parts:router",),
    pages=("tests.fakes.sample_product.parts:pages",),
    start="tests.fakes.sample_product.parts:start",
    workers=(WorkerSpec("marker", "tests.fakes.sample_product.parts:run_marker"),),
    cli="tests.fakes.sample_product.parts:sample_app",
    demo="tests.fakes.sample_product.parts:run_demo",
)
