"""The package's public names: complete and importable."""

from __future__ import annotations

from types import ModuleType

import ssmas.exchange as exchange


def test_all_is_complete_and_importable() -> None:
    assert len(set(exchange.__all__)) == len(exchange.__all__)
    for name in exchange.__all__:  # each lazily exported name resolves
        assert getattr(exchange, name) is not None
    plumbing = {"annotations", "TYPE_CHECKING", "lazy_exports"}
    exported = {
        name
        for name in dir(exchange)
        if not name.startswith("_")
        and name not in plumbing
        and not isinstance(getattr(exchange, name), ModuleType)
    }
    assert exported == set(exchange.__all__)


def test_volume_suffixes() -> None:
    assert exchange.parse_volume("50M") == 50_000_000
    assert exchange.parse_volume("2.5k") == 2_500
    assert exchange.parse_volume("1e6") == 1_000_000
    for bad in ("-5", "0", "lots", "5X", ""):
        try:
            exchange.parse_volume(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
