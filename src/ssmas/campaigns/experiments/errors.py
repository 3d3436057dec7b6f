"""The one error type of the experiments package, so callers catch bad input in one place.

Every message is one line saying what is wrong with the input (a variant with no traffic, an
arm with no units, an alpha outside (0, 1)), never a stack of numerical warnings.
"""

from __future__ import annotations


class ExperimentError(ValueError):
    """The input cannot be planned, assigned or analysed; the message says why."""


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """``alpha`` (or a power) as a float strictly between 0 and 1, else :class:`ExperimentError`."""
    value = float(alpha)
    if not 0.0 < value < 1.0:
        raise ExperimentError(f"{name} must be strictly between 0 and 1, got {alpha!r}")
    return value
