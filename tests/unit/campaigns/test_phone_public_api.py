"""The phone package's public names: complete, sorted and importable."""

from __future__ import annotations

from types import ModuleType

import ssmas.campaigns.phone as phone


def test_all_is_complete_sorted_and_importable() -> None:
    exported = {
        name
        for name, value in vars(phone).items()
        if not name.startswith("_") and not isinstance(value, ModuleType) and name != "annotations"
    }
    assert exported == set(phone.__all__)
    constants = [name for name in phone.__all__ if name.isupper()]
    others = [name for name in phone.__all__ if not name.isupper()]
    assert phone.__all__ == sorted(constants) + sorted(others)
