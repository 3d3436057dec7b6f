"""The world: deterministic from its seed, with the seed's taxonomy and tiers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from ssmas.exchange import catalog
from ssmas.exchange.seasonality import expected_minute_volume, minute_profile
from ssmas.exchange.world import FLOOR_LADDER, build_world


def test_same_seed_same_world_and_different_seeds_differ() -> None:
    a, b, c = build_world(7), build_world(7), build_world(8)
    assert a.publishers == b.publishers and a.ad_units == b.ad_units and a.partners == b.partners
    assert a.ad_units != c.ad_units


def test_country_tiers_follow_the_pricing_seed() -> None:
    for code in ("ES", "FR", "DE", "IT", "UK", "US"):
        assert catalog.country_tier(code) == 1
    for code in ("PT", "NL", "BE", "CH", "AT", "SE"):
        assert catalog.country_tier(code) == 2
    assert catalog.country_tier("MX") == 3
    assert catalog.country_tier("ZZ") == 3


def test_entities_are_consistent() -> None:
    world = build_world(3, publishers=12)
    assert len(world.publishers) == 12
    assert len({p.domain for p in world.publishers}) == 12
    assert sum(p.traffic_share for p in world.publishers) == pytest.approx(1.0)
    for unit in world.ad_units:
        assert unit.size in catalog.SIZES_BY_FORMAT[catalog.FORMATS[unit.format]]
        assert unit.default_floor in FLOOR_LADDER
    assert world.unit_share.sum() == pytest.approx(1.0)
    assert np.allclose(world.country_cdf[:, -1], 1.0)
    # Every format is bought by somebody, so no segment is structurally unfillable.
    reach = np.array([p.format_reach for p in world.partners])
    assert (reach.max(axis=0) == 1.0).all()


def test_build_world_refuses_an_empty_network() -> None:
    with pytest.raises(ValueError, match="publisher"):
        build_world(1, publishers=0)


def test_traffic_has_daily_and_weekly_shape() -> None:
    profile = minute_profile()
    assert profile.sum() == pytest.approx(1.0)
    night, evening = profile[3 * 60 : 4 * 60].sum(), profile[21 * 60 : 22 * 60].sum()
    assert evening > 4 * night
    monday = expected_minute_volume(1e6, date(2024, 10, 21), date(2024, 10, 21)).sum()
    saturday = expected_minute_volume(1e6, date(2024, 10, 26), date(2024, 10, 21)).sum()
    assert saturday < monday
    later = expected_minute_volume(1e6, date(2025, 10, 20), date(2024, 10, 21)).sum()
    assert later > monday  # growth trend
