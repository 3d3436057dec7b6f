"""Small things the AdOps API and pages share: the NAB threshold and an SVG plot of a series."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

from markupsafe import Markup, escape

DEFAULT_THRESHOLD = 0.5


@lru_cache(maxsize=1)
def nab_threshold() -> float:
    """The NAB standard profile's threshold chosen on the shared corpus (0.5 when unknown)."""
    try:
        text = resources.files("ssmas.adops").joinpath("nab_thresholds.json").read_text()
        body = json.loads(text)
        return float(body["profiles"]["standard"]["threshold"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_THRESHOLD


def svg_plot(
    values: Sequence[float | None],
    scores: Sequence[float],
    threshold: float,
    *,
    width: int = 900,
    height: int = 260,
    label: str = "",
) -> Markup:
    """Values (top, a line broken at missing points), scores (bottom, 0 to 1) and the points
    at or above ``threshold`` marked in red; no script, so the page's CSP holds."""
    n = len(values)
    if n == 0:
        return Markup('<p class="empty">No points yet.</p>')
    finite = [v for v in values if v is not None and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 1.0, hi + 1.0
    top, split, bottom = 10, height * 0.65, height - 10

    def x(i: int) -> float:
        return 40 + (width - 50) * (i / max(1, n - 1))

    def y(v: float) -> float:
        return top + (split - 10 - top) * (1 - (v - lo) / (hi - lo))

    def ys(s: float) -> float:
        return split + (bottom - split) * (1 - s)

    paths: list[list[str]] = []
    current: list[str] = []
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            if current:
                paths.append(current)
            current = []
            continue
        current.append(f"{x(i):.1f},{y(v):.1f}")
    if current:
        paths.append(current)
    lines = "".join(
        f'<polyline fill="none" stroke="#2b6cb0" stroke-width="1.2" points="{" ".join(p)}"/>'
        for p in paths
    )
    score_points = " ".join(f"{x(i):.1f},{ys(s):.1f}" for i, s in enumerate(scores))
    marks = "".join(
        f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="#c53030"/>'
        for i, (v, s) in enumerate(zip(values, scores, strict=True))
        if s >= threshold and v is not None and math.isfinite(v)
    )
    th = ys(threshold)
    return Markup(
        f'<svg role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="none" class="series-plot">'
        f'<text x="2" y="{top + 8}" font-size="10">{escape(f"{hi:.4g}")}</text>'
        f'<text x="2" y="{split - 12}" font-size="10">{escape(f"{lo:.4g}")}</text>'
        f"{lines}{marks}"
        f'<line x1="40" x2="{width - 10}" y1="{th:.1f}" y2="{th:.1f}" stroke="#c53030" '
        f'stroke-dasharray="4 3"/>'
        f'<polyline fill="none" stroke="#805ad5" stroke-width="1" points="{score_points}"/>'
        f'<text x="2" y="{split + 10}" font-size="10">score</text></svg>'
    )
