"""The input distributions: moment-matched constructors give the asked-for mean and sd, quantiles
agree with the draws, and parameters that describe no distribution are refused."""

from __future__ import annotations

import numpy as np
import pytest

from ssmas.campaigns.roi import Dist, RoiInputError

CASES = [
    (Dist.lognormal(200.0, 50.0), 200.0, 50.0),
    (Dist.beta(0.04, 0.01), 0.04, 0.01),
    (Dist.normal(5.0, 2.0), 5.0, 2.0),
    (Dist.uniform(2.0, 8.0), 5.0, 6.0 / np.sqrt(12)),
    (Dist.triangular(1.0, 2.0, 6.0), 3.0, np.sqrt((1 + 4 + 36 - 2 - 6 - 12) / 18)),
]


@pytest.mark.parametrize(("dist", "mean", "sd"), CASES)
def test_draws_have_the_asked_for_moments_and_quantiles(dist: Dist, mean: float, sd: float) -> None:
    draws = dist.sample(np.random.default_rng(0), 200_000)
    assert dist.mean() == pytest.approx(mean)
    assert draws.mean() == pytest.approx(mean, abs=5 * sd / np.sqrt(draws.size))
    assert draws.std() == pytest.approx(sd, rel=0.02)
    for q in (0.1, 0.5, 0.9):
        assert np.mean(draws <= dist.ppf(q)) == pytest.approx(q, abs=0.005)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Dist.lognormal(-1, 1),
        lambda: Dist.beta(0.5, 0.6),
        lambda: Dist.beta(1.2, 0.1),
        lambda: Dist.normal(0, -1),
        lambda: Dist.uniform(3, 1),
        lambda: Dist.triangular(1, 5, 3),
        lambda: Dist.fixed(float("nan")),
    ],
)
def test_impossible_parameters_are_refused(build: object) -> None:
    with pytest.raises(RoiInputError):
        build()  # type: ignore[operator]
