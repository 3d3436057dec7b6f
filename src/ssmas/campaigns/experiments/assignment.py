"""Variants with traffic weights and deterministic, stateless assignment of units to them.

The seed split a campaign's audience once, in memory; here a unit (a lead, a phone) is hashed
with the experiment's key, so the same unit always sees the same variant in that experiment,
on any process and after a restart, without storing the assignment, and two experiments split
the audience independently. A variant with zero (or negative) traffic is refused: stop an arm by
removing it, so its units are not silently counted nowhere.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from ssmas.campaigns.experiments.errors import ExperimentError

_SCALE = float(2**64)


@dataclass(frozen=True)
class Variant:
    """One arm: a name and its traffic weight (any positive number; weights are normalised)."""

    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class ExperimentDesign:
    """An experiment's key (the hashing salt), its variants (first is control) and coverage.

    ``coverage`` is the share of units that enter the experiment at all; the rest get ``None``.
    """

    key: str
    variants: tuple[Variant, ...]
    coverage: float = 1.0

    def __post_init__(self) -> None:
        if not self.key:
            raise ExperimentError("an experiment needs a non-empty key")
        if len(self.variants) < 2:
            raise ExperimentError(
                f"an experiment needs at least 2 variants, got {len(self.variants)}"
            )
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ExperimentError(f"variant names must be unique, got {names}")
        for v in self.variants:
            if not v.weight > 0 or v.weight == float("inf"):
                raise ExperimentError(
                    f"variant {v.name!r} has traffic weight {v.weight!r}: every variant needs "
                    "positive traffic (remove a variant to stop it)"
                )
        if not 0.0 < self.coverage <= 1.0:
            raise ExperimentError(f"coverage must be in (0, 1], got {self.coverage!r}")

    @classmethod
    def create(
        cls, key: str, variants: Sequence[tuple[str, float]] | Sequence[str], coverage: float = 1.0
    ) -> ExperimentDesign:
        """From ``[("control", 50), ("treatment", 50)]`` or equal-weight names."""
        arms = tuple(
            Variant(v) if isinstance(v, str) else Variant(v[0], float(v[1])) for v in variants
        )
        return cls(key=key, variants=arms, coverage=coverage)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @property
    def weights(self) -> tuple[float, ...]:
        """Normalised traffic shares, summing to 1."""
        total = sum(v.weight for v in self.variants)
        return tuple(v.weight / total for v in self.variants)

    @cached_property
    def edges(self) -> tuple[float, ...]:
        """Cumulative traffic shares: the bucket boundaries between variants."""
        return tuple(itertools.accumulate(self.weights))


def bucket(key: str, unit_id: str, salt: str = "") -> float:
    """A uniform number in [0, 1) from SHA-256 of ``key``, ``salt`` and ``unit_id``."""
    digest = hashlib.sha256(f"{key}\x1f{salt}\x1f{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign(design: ExperimentDesign, unit_id: str) -> str | None:
    """The variant ``unit_id`` sees in ``design``, or ``None`` when outside its coverage."""
    if design.coverage < 1.0 and bucket(design.key, unit_id, "coverage") >= design.coverage:
        return None
    edges = design.edges
    index = min(bisect.bisect_right(edges, bucket(design.key, unit_id)), len(edges) - 1)
    return design.variants[index].name


def assign_many(design: ExperimentDesign, unit_ids: Iterable[str]) -> list[str | None]:
    """:func:`assign` for many units."""
    return [assign(design, u) for u in unit_ids]
