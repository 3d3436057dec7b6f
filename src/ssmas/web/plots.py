"""Server-drawn SVG charts for pages that show results (no script, so the pages' CSP holds).

``line_chart`` draws lines, shaded bands (an interval: ``low`` to ``high``) and markers over a
numeric x axis, with a dashed reference line (zero lift, say) when asked; ``bar_chart`` draws
bars (a histogram, a tornado's swings) with an optional reference. Every series is an element
with ``data-series="<name>"``, so a test can find what was drawn; numbers on the axes are
written with :func:`ssmas.web.charts.format_number`. Missing values (``None``, NaN) break a
line instead of being joined across.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from ssmas.web.charts import format_number

__all__ = ["Band", "Bar", "Line", "bar_chart", "line_chart"]

PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#c53030", "#319795", "#d69e2e")


@dataclass(frozen=True)
class Line:
    name: str
    y: Sequence[float | None]
    color: str = ""
    dashed: bool = False
    markers: bool = False


@dataclass(frozen=True)
class Band:
    name: str
    low: Sequence[float | None]
    high: Sequence[float | None]
    color: str = "#bee3f8"


@dataclass(frozen=True)
class Bar:
    label: str
    low: float
    high: float
    color: str = "#2b6cb0"


def _ok(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _range(values: Sequence[float | None], pad: float = 0.05) -> tuple[float, float]:
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - (abs(lo) or 1.0) * 0.5, hi + (abs(hi) or 1.0) * 0.5
    span = hi - lo
    return lo - pad * span, hi + pad * span


def _legend(items: Sequence[tuple[str, str, bool]], x0: float, y: float) -> str:
    out, x = [], x0
    for name, color, dashed in items:
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        out.append(
            f'<line x1="{x:.0f}" x2="{x + 16:.0f}" y1="{y - 4:.0f}" y2="{y - 4:.0f}" '
            f'stroke="{color}" stroke-width="3"{dash}/>'
            f'<text x="{x + 20:.0f}" y="{y:.0f}" font-size="11">{escape(name)}</text>'
        )
        x += 30 + 6.5 * len(name)
    return "".join(out)


def line_chart(
    x: Sequence[float],
    lines: Sequence[Line],
    bands: Sequence[Band] = (),
    *,
    label: str,
    x_label: str = "",
    y_label: str = "",
    x_ticks: Sequence[tuple[float, str]] = (),
    reference: float | None = None,
    y_format: Callable[[float], str] = format_number,
    width: int = 860,
    height: int = 300,
) -> Markup:
    """Lines and bands over ``x`` (every series one value per x); the legend sits above the
    plot, the y axis' label above the legend."""
    n = len(x)
    if n == 0 or (not lines and not bands):
        return Markup('<p class="empty">Nothing to draw yet.</p>')
    for series in [*(ln.y for ln in lines), *(b.low for b in bands), *(b.high for b in bands)]:
        if len(series) != n:
            raise ValueError("every series needs one value per x")
    left, right, top, bottom = 64, width - 16, 48, height - 34
    x_lo, x_hi = min(x), max(x)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1.0, x_hi + 1.0
    everything: list[float | None] = [v for ln in lines for v in ln.y]
    everything += [v for b in bands for v in (*b.low, *b.high)]
    if reference is not None:
        everything.append(reference)
    y_lo, y_hi = _range(everything)

    def px(v: float) -> float:
        return left + (right - left) * (v - x_lo) / (x_hi - x_lo)

    def py(v: float) -> float:
        return bottom - (bottom - top) * (v - y_lo) / (y_hi - y_lo)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}" class="result-chart">',
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#999"/>',
    ]
    for v in (y_lo, (y_lo + y_hi) / 2, y_hi):
        parts.append(
            f'<text x="{left - 6}" y="{py(v) + 4:.1f}" font-size="10" text-anchor="end">'
            f"{escape(y_format(v))}</text>"
        )
    ticks = x_ticks or [(x_lo, format_number(x_lo)), (x_hi, format_number(x_hi))]
    for v, text in ticks:
        at = px(v)
        anchor = "start" if at < left + 40 else "end" if at > right - 40 else "middle"
        parts.append(
            f'<text x="{at:.1f}" y="{bottom + 14}" font-size="10" text-anchor="{anchor}">'
            f"{escape(text)}</text>"
        )
    if x_label:
        parts.append(
            f'<text x="{(left + right) / 2:.0f}" y="{height - 4}" font-size="11" '
            f'text-anchor="middle">{escape(x_label)}</text>'
        )
    if y_label:
        parts.append(f'<text x="4" y="14" font-size="11">{escape(y_label)}</text>')
    for band in bands:
        runs: list[list[int]] = [[]]
        for i in range(n):
            if _ok(band.low[i]) and _ok(band.high[i]):
                runs[-1].append(i)
            elif runs[-1]:
                runs.append([])
        for run in (r for r in runs if r):
            upper = " ".join(f"{px(x[i]):.1f},{py(float(band.high[i] or 0)):.1f}" for i in run)
            lower = " ".join(
                f"{px(x[i]):.1f},{py(float(band.low[i] or 0)):.1f}" for i in reversed(run)
            )
            parts.append(
                f'<polygon data-series="{escape(band.name)}" fill="{band.color}" '
                f'fill-opacity="0.7" stroke="none" points="{upper} {lower}"/>'
            )
    if reference is not None:
        parts.append(
            f'<line data-series="reference" x1="{left}" x2="{right}" y1="{py(reference):.1f}" '
            f'y2="{py(reference):.1f}" stroke="#718096" stroke-dasharray="4 3"/>'
        )
    legend: list[tuple[str, str, bool]] = []
    for k, line in enumerate(lines):
        color = line.color or PALETTE[k % len(PALETTE)]
        if line.name:  # an unnamed line (a band's second edge) stays out of the legend
            legend.append((line.name, color, line.dashed))
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        runs_pts: list[list[str]] = [[]]
        for i, val in enumerate(line.y):
            if _ok(val):
                runs_pts[-1].append(f"{px(x[i]):.1f},{py(float(val or 0)):.1f}")
            elif runs_pts[-1]:
                runs_pts.append([])
        for pts in (r for r in runs_pts if r):
            parts.append(
                f'<polyline data-series="{escape(line.name)}" fill="none" stroke="{color}" '
                f'stroke-width="1.8"{dash} points="{" ".join(pts)}"/>'
            )
        if line.markers:
            parts.extend(
                f'<circle data-series="{escape(line.name)}" cx="{px(x[i]):.1f}" '
                f'cy="{py(float(val or 0)):.1f}" r="3" fill="{color}"/>'
                for i, val in enumerate(line.y)
                if _ok(val)
            )
    legend += [(b.name, b.color, False) for b in bands]
    parts.append(_legend([item for item in legend if item[0]], left + 8, 34))
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    bars: Sequence[Bar],
    *,
    label: str,
    reference: float | None = None,
    vertical: bool = True,
    width: int = 860,
    height: int = 240,
) -> Markup:
    """Vertical bars from ``low`` to ``high`` (a histogram: low 0, high the count), or
    horizontal ones (``vertical=False``: a tornado, each bar one input's swing)."""
    if not bars:
        return Markup('<p class="empty">Nothing to draw yet.</p>')
    values = [v for b in bars for v in (b.low, b.high)]
    if reference is not None:
        values.append(reference)
    lo, hi = _range(values, pad=0.02)
    if min(values) >= 0:  # counts: the axis starts at zero
        lo = 0.0
    left, right, top, bottom = (
        (64, width - 16, 12, height - 30)
        if vertical
        else (
            200,
            width - 16,
            12,
            height - 24,
        )
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}" class="result-chart">'
    ]
    count = len(bars)
    if vertical:

        def py(v: float) -> float:
            return bottom - (bottom - top) * (v - lo) / (hi - lo)

        slot = (right - left) / count
        for i, b in enumerate(bars):
            y0, y1 = sorted((py(b.low), py(b.high)))
            parts.append(
                f'<rect data-series="{escape(b.label)}" x="{left + i * slot + 0.5:.1f}" '
                f'y="{y0:.1f}" width="{max(slot - 1, 0.5):.1f}" height="{max(y1 - y0, 0.5):.1f}" '
                f'fill="{b.color}"><title>{escape(b.label)}</title></rect>'
            )
        for v in (lo, hi):
            parts.append(
                f'<text x="{left - 6}" y="{py(v) + 4:.1f}" font-size="10" text-anchor="end">'
                f"{escape(format_number(v))}</text>"
            )
        for i in (0, count - 1):
            parts.append(
                f'<text x="{left + (i + 0.5) * slot:.1f}" y="{bottom + 14}" font-size="10" '
                f'text-anchor="middle">{escape(bars[i].label)}</text>'
            )
    else:

        def pxh(v: float) -> float:
            return left + (right - left) * (v - lo) / (hi - lo)

        slot = (bottom - top) / count
        for i, b in enumerate(bars):
            x0, x1 = sorted((pxh(b.low), pxh(b.high)))
            parts.append(
                f'<rect data-series="{escape(b.label)}" x="{x0:.1f}" y="{top + i * slot + 2:.1f}" '
                f'width="{max(x1 - x0, 0.5):.1f}" height="{max(slot - 4, 1):.1f}" '
                f'fill="{b.color}"/>'
                f'<text x="{left - 6}" y="{top + (i + 0.5) * slot + 4:.1f}" font-size="11" '
                f'text-anchor="end">{escape(b.label)}</text>'
            )
        for v in (lo, hi):
            parts.append(
                f'<text x="{pxh(v):.1f}" y="{bottom + 14}" font-size="10" text-anchor="middle">'
                f"{escape(format_number(v))}</text>"
            )
    if reference is not None:
        if vertical:
            ry = bottom - (bottom - top) * (reference - lo) / (hi - lo)
            parts.append(
                f'<line data-series="reference" x1="{left}" x2="{right}" y1="{ry:.1f}" '
                f'y2="{ry:.1f}" stroke="#c53030" stroke-dasharray="4 3"/>'
            )
        else:
            rx = left + (right - left) * (reference - lo) / (hi - lo)
            parts.append(
                f'<line data-series="reference" x1="{rx:.1f}" x2="{rx:.1f}" y1="{top}" '
                f'y2="{bottom}" stroke="#4a5568" stroke-dasharray="4 3"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
