"""Statistics shared by products: always-valid confidence sequences for sequential tests."""

from __future__ import annotations

from ssmas.core.stats.sequential import (
    SequentialComparison,
    always_valid_p,
    compare_means,
    halfwidth,
    mixture_rho,
)

__all__ = ["SequentialComparison", "always_valid_p", "compare_means", "halfwidth", "mixture_rho"]
