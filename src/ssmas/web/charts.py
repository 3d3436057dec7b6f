"""What the dashboard's charts and tables need from the server: readable numbers, honest gaps.

``format_number`` writes a number as a person reads it: ``160,322`` rather than ``1.603e+05``
(thousands separators, no scientific notation between 1e-6 and 1e15, four significant digits
below 1,000). It is the templates' ``number`` filter; ``static/charts.js`` has the same rules
for the chart axes.

``break_gaps`` prepares a time series for uPlot, which joins consecutive points with a line
whatever the time between them: where a step is much longer than the series' usual one (the
page was not watched, the monitor was down), a row of nulls is put in, so the line stops there
instead of drawing a straight segment across the missing data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from statistics import median
from typing import Any

__all__ = ["GAP_FACTOR", "break_gaps", "format_number"]

SIGNIFICANT_DIGITS = 4
# A step longer than this many times the median step is a gap.
GAP_FACTOR = 3.0
MISSING = "—"


def format_number(value: float | int | None, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``160322.4`` → ``"160,322"``, ``0.803412`` → ``"0.8034"``, ``None`` / NaN → ``"—"``."""
    if value is None or isinstance(value, bool):
        return MISSING if value is None else str(value)
    number = float(value)
    if math.isnan(number):
        return MISSING
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    size = abs(number)
    if size == 0:
        return "0"
    if size >= 1e15 or size < 1e-6:
        return f"{number:.{digits - 1}e}"
    if size >= 1000 or (isinstance(value, int) and not isinstance(value, bool)):
        return f"{number:,.0f}"
    rounded = float(f"{number:.{digits}g}")
    decimals = max(0, digits - 1 - math.floor(math.log10(size)))
    text = f"{rounded:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def break_gaps(
    t: Sequence[float],
    columns: Sequence[Sequence[Any]],
    *,
    max_step: float | None = None,
) -> tuple[list[float], list[list[Any]]]:
    """``t`` and its ``columns`` with a null row wherever a step exceeds ``max_step``.

    ``max_step`` defaults to :data:`GAP_FACTOR` times the median step (three points at least are
    needed to know what a usual step is; fewer are returned as they are). The null row's time is
    inside the gap, at most ``max_step`` after the point before it.
    """
    times = list(t)
    cols = [list(c) for c in columns]
    if any(len(c) != len(times) for c in cols):
        raise ValueError("every column must have one value per time")
    steps = [b - a for a, b in pairwise(times)]
    if max_step is None:
        positive = [s for s in steps if s > 0]
        if len(positive) < 2:
            return times, cols
        max_step = GAP_FACTOR * median(positive)
    out_t: list[float] = times[:1]
    out_cols = [c[:1] for c in cols]
    for i, step in enumerate(steps, start=1):
        if step > max_step:
            out_t.append(times[i - 1] + min(step / 2, max_step))
            for out in out_cols:
                out.append(None)
        out_t.append(times[i])
        for out, col in zip(out_cols, cols, strict=True):
            out.append(col[i])
    return out_t, out_cols
