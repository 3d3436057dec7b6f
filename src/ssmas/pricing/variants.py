"""Champion / challenger traffic split, sticky by a stable hash of the impression id.

The hash is BLAKE2b (hashlib), so an id lands in the same variant in every process, on every
machine and after every restart; Python's ``hash()`` is salted per process and would not.
Different salts give independent splits (the floor control group uses its own salt).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

Variant = Literal["champion", "challenger"]
VARIANT_SALT = "ssmas.pricing.variant"
_SCALE = float(2**64)


def hash_unit(key: str, salt: str) -> float:
    """Map ``key`` to a uniform number in [0, 1) that depends only on ``(salt, key)``."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=_person(salt)).digest()
    return int.from_bytes(digest, "big") / _SCALE


def hash_units(keys: Iterable[str], salt: str) -> npt.NDArray[np.float64]:
    """Vector form of :func:`hash_unit`; element ``i`` equals ``hash_unit(keys[i], salt)``."""
    person = _person(salt)
    blake = hashlib.blake2b
    raw = b"".join(
        blake(str(key).encode("utf-8"), digest_size=8, person=person).digest() for key in keys
    )
    return np.frombuffer(raw, dtype=">u8").astype(np.float64) / _SCALE


@functools.lru_cache(maxsize=64)
def _person(salt: str) -> bytes:
    # BLAKE2b's personalisation string (<= 16 bytes) separates the salts' hash families.
    # Cached: there are a handful of salts, and the serving path asks once per request.
    return hashlib.blake2b(salt.encode("utf-8"), digest_size=16).digest()


class VariantSplit(BaseModel):
    """How traffic is split between the champion model and a challenger (80/20 by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    challenger_share: float = Field(default=0.2, ge=0.0, le=1.0)
    salt: str = Field(default=VARIANT_SALT, min_length=1)
    challenger_enabled: bool = True

    def assign(self, impression_id: str) -> Variant:
        """The variant that serves ``impression_id``; the same id always gets the same answer."""
        if not self.challenger_enabled or self.challenger_share <= 0.0:
            return "champion"
        if hash_unit(impression_id, self.salt) < self.challenger_share:
            return "challenger"
        return "champion"

    def challenger_mask(self, impression_ids: Iterable[str]) -> npt.NDArray[np.bool_]:
        """Boolean mask of the ids served by the challenger (vector form of :meth:`assign`)."""
        units = hash_units(impression_ids, self.salt)
        if not self.challenger_enabled or self.challenger_share <= 0.0:
            return np.zeros(units.shape, dtype=np.bool_)
        return units < self.challenger_share


def assign_variant(impression_id: str, challenger_share: float = 0.2) -> Variant:
    """Shortcut for ``VariantSplit(challenger_share=...).assign(impression_id)``."""
    return VariantSplit(challenger_share=challenger_share).assign(impression_id)
