"""The tornado against hand-computed ROI: each input at its 10th / 90th percentile (scipy's
quantiles, computed here independently), the others at their medians, sorted by swing."""

from __future__ import annotations

import pytest
from scipy import stats

from ssmas.campaigns.roi import CampaignPlan, Dist, RoiInputError, tornado


def plan() -> CampaignPlan:
    return CampaignPlan(
        cost=Dist.triangular(8_000, 10_000, 14_000),
        reach=Dist.uniform(40_000, 60_000),
        conversion_rate=Dist.beta(0.02, 0.008),
        value_per_conversion=Dist.fixed(12.0),
    )


def test_bars_hold_the_roi_at_each_inputs_low_and_high_quantile() -> None:
    p = plan()
    chart = tornado(p, low_q=0.1, high_q=0.9)
    cost_med = stats.triang.ppf(0.5, 2_000 / 6_000, loc=8_000, scale=6_000)
    a, b = p.conversion_rate.a, p.conversion_rate.b
    conv = {q: stats.beta.ppf(q, a, b) for q in (0.1, 0.5, 0.9)}
    reach = {0.1: 42_000.0, 0.5: 50_000.0, 0.9: 58_000.0}

    def roi(cost: float, r: float, c: float) -> float:
        return (r * c * 12.0 - cost) / cost

    assert chart.base_roi == pytest.approx(roi(cost_med, reach[0.5], conv[0.5]))
    bars = {bar.input: bar for bar in chart.bars}
    assert bars["reach"].roi_at_low == pytest.approx(roi(cost_med, reach[0.1], conv[0.5]))
    assert bars["reach"].roi_at_high == pytest.approx(roi(cost_med, reach[0.9], conv[0.5]))
    assert bars["conversion_rate"].roi_at_high == pytest.approx(roi(cost_med, 50_000, conv[0.9]))
    cost_hi = stats.triang.ppf(0.9, 2_000 / 6_000, loc=8_000, scale=6_000)
    assert bars["cost"].high_value == pytest.approx(cost_hi)
    assert bars["cost"].roi_at_high == pytest.approx(roi(cost_hi, 50_000, conv[0.5]))
    # a higher cost lowers ROI; the fixed value per conversion makes no bar at all
    assert bars["cost"].roi_at_high < chart.base_roi < bars["cost"].roi_at_low
    assert bars["value_per_conversion"].swing == 0


def test_bars_are_sorted_widest_first() -> None:
    chart = tornado(plan())
    swings = [bar.swing for bar in chart.bars]
    assert swings == sorted(swings, reverse=True)
    # by hand: conversion (sd 40% of its mean) swings ROI by ~0.9; reach (42k..58k, +-16%)
    # by 0.344; cost (9,095..12,451 around 10,536) by 0.336; the fixed value by 0
    assert [bar.input for bar in chart.bars] == [
        "conversion_rate",
        "reach",
        "cost",
        "value_per_conversion",
    ]
    assert chart.bars[1].swing == pytest.approx(0.344, abs=0.002)
    assert chart.bars[2].swing == pytest.approx(0.336, abs=0.002)


def test_wider_quantiles_give_wider_bars() -> None:
    narrow, wide = (
        tornado(plan(), low_q=0.25, high_q=0.75),
        tornado(plan(), low_q=0.05, high_q=0.95),
    )
    wide_swing = {bar.input: bar.swing for bar in wide.bars}
    for bar in narrow.bars:
        assert bar.swing <= wide_swing[bar.input]
    assert sum(wide_swing.values()) > sum(bar.swing for bar in narrow.bars)


@pytest.mark.parametrize(("low", "high"), [(0.9, 0.1), (0.0, 0.5), (0.5, 1.0)])
def test_quantiles_out_of_order_are_refused(low: float, high: float) -> None:
    with pytest.raises(RoiInputError, match="low_q < high_q"):
        tornado(plan(), low_q=low, high_q=high)
