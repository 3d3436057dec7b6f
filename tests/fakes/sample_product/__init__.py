"""A small product used by the tests to show the product contract end to end.

It is what a newcomer writes for a new product: this package, whose ``product`` module declares
``PRODUCT``, plus one line in ``ssmas.bootstrap.PRODUCT_MODULES`` (the tests add that line).
"""
