"""Champion / challenger split: ratio, stickiness, stability across processes, independence."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from ssmas.pricing.floors.formula import control_mask
from ssmas.pricing.variants import (
    VARIANT_SALT,
    VariantSplit,
    assign_variant,
    hash_unit,
    hash_units,
)

IDS = [f"imp-{i:06d}" for i in range(100_000)]


def test_default_split_is_80_20_within_one_point() -> None:
    mask = VariantSplit().challenger_mask(IDS)
    assert abs(mask.mean() - 0.20) < 0.01


@pytest.mark.parametrize("share", [0.05, 0.5, 0.9])
def test_configured_split_ratio(share: float) -> None:
    mask = VariantSplit(challenger_share=share).challenger_mask(IDS)
    assert abs(mask.mean() - share) < 0.01


def test_assignment_is_sticky_and_scalar_matches_vector() -> None:
    split = VariantSplit()
    mask = split.challenger_mask(IDS[:2000])
    scalar = [split.assign(i) == "challenger" for i in IDS[:2000]]
    assert scalar == mask.tolist()
    assert [split.assign(i) for i in IDS[:200]] == [split.assign(i) for i in IDS[:200]]
    assert assign_variant(IDS[7]) == split.assign(IDS[7])


def test_hash_is_a_fixed_function_of_salt_and_id() -> None:
    # Known answers: a different value here means ids would move variant after a deploy.
    assert hash_unit("imp-1", VARIANT_SALT) == pytest.approx(0.9052270742273155, abs=1e-15)
    assert hash_unit("imp-1", "other") == pytest.approx(0.8502041853202746, abs=1e-15)
    units = hash_units(IDS[:1000], VARIANT_SALT)
    assert units.min() >= 0.0 and units.max() < 1.0
    assert units[3] == hash_unit(IDS[3], VARIANT_SALT)


def test_no_challenger_means_all_champion() -> None:
    assert not VariantSplit(challenger_share=0.0).challenger_mask(IDS[:1000]).any()
    off = VariantSplit(challenger_enabled=False)
    assert not off.challenger_mask(IDS[:1000]).any()
    assert {off.assign(i) for i in IDS[:1000]} == {"champion"}
    assert VariantSplit(challenger_share=1.0).challenger_mask(IDS[:1000]).all()


def test_variant_and_floor_control_are_independent() -> None:
    challenger = VariantSplit().challenger_mask(IDS)
    control = control_mask(IDS, 0.1)
    both = float(np.mean(challenger & control))
    assert both == pytest.approx(0.2 * 0.1, abs=0.004)


def test_share_out_of_range_is_refused() -> None:
    with pytest.raises(ValidationError):
        VariantSplit(challenger_share=1.2)
