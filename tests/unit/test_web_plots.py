"""The server-drawn SVG charts: bands and lines where the data is, breaks where it is not, one
value per x required, nothing drawn for nothing, bars from zero for counts."""

from __future__ import annotations

import math
import re

import pytest

from ssmas.web.plots import Band, Bar, Line, bar_chart, line_chart


def _points(svg: str, series: str) -> list[str]:
    return re.findall(rf'data-series="{re.escape(series)}"[^>]*points="([^"]+)"', svg)


def test_a_line_breaks_at_missing_values_and_the_band_follows_the_data() -> None:
    x = [0.0, 1.0, 2.0, 3.0, 4.0]
    svg = str(
        line_chart(
            x,
            [Line("lift", [0.1, None, 0.2, math.nan, 0.3], markers=True)],
            [Band("interval", [0.0, 0.0, 0.1, 0.1, 0.2], [0.2, 0.3, 0.3, 0.4, 0.4])],
            label="test",
            reference=0.0,
            y_format=lambda v: f"{100 * v:+.0f}%",
        )
    )
    assert [len(p.split()) for p in _points(svg, "lift")] == [1, 1, 1]  # three pieces
    assert len(svg.split('<circle data-series="lift"')) - 1 == 3
    (band,) = _points(svg, "interval")
    assert len(band.split()) == 10  # upper edge out, lower edge back
    assert 'data-series="reference"' in svg and "%" in svg and 'aria-label="test"' in svg


def test_series_must_match_x_and_nothing_draws_a_note() -> None:
    with pytest.raises(ValueError, match="one value per x"):
        line_chart([0.0, 1.0], [Line("a", [1.0])], label="bad")
    assert "Nothing to draw" in str(line_chart([], [Line("a", [])], label="empty"))
    assert "Nothing to draw" in str(bar_chart([], label="empty"))


def test_count_bars_start_at_zero_and_a_tornado_is_horizontal() -> None:
    svg = str(bar_chart([Bar("a", 0.0, 5.0), Bar("b", 0.0, 10.0)], label="hist"))
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" fill', svg)]
    assert heights[1] == pytest.approx(2 * heights[0], rel=0.02)  # proportional: from zero
    tornado = str(
        bar_chart([Bar("cost", -0.2, 0.5), Bar("rate", 0.1, 0.3)], label="t", vertical=False)
    )
    assert ">cost</text>" in tornado and 'data-series="cost"' in tornado
