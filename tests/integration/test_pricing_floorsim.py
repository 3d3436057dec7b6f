"""Floor policies replayed on a held-out simulated day through the exchange's auction."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ssmas.exchange import LAKE_IMPRESSIONS, lake_day_dir
from ssmas.pricing.floors.simulation import FloorSimReport, simulate_floors
from ssmas.pricing.floors.simulation_report import latest_report, render_table, write_report
from ssmas.pricing.model.bundle import PricingModel
from ssmas.pricing.model.dataset import LakeError
from ssmas.pricing.model.training import train_from_lake
from ssmas.settings import Settings

from .pricing_support import START, clean_lake

pytestmark = pytest.mark.slow
END = START + timedelta(days=2)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clean_lake(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def model(lake: Path) -> PricingModel:
    return train_from_lake(lake, START, END, params={"num_boost_round": 40}).model


@pytest.fixture(scope="module")
def report(lake: Path, model: PricingModel) -> FloorSimReport:
    return simulate_floors(lake, START, END, model, n_boot=300)


def _held_out_rows(lake: Path) -> dict[str, np.ndarray]:
    files = sorted(lake_day_dir(lake, LAKE_IMPRESSIONS, END).glob("*/*.parquet"))
    table = pa.concat_tables([pq.read_table(f) for f in files])
    ok = table.filter(
        table.column("status").cast(pa.string()).to_numpy(zero_copy_only=False) == "ok"
    )
    return {
        "top": ok.column("top_bid_cpm").to_numpy(),
        "second": ok.column("second_bid_cpm").to_numpy(),
        "first": ok.column("auction_type").cast(pa.string()).to_numpy(zero_copy_only=False)
        == "first_price",
    }


def test_unfloored_replay_is_the_textbook_auction(lake: Path, report: FloorSimReport) -> None:
    rows = _held_out_rows(lake)
    price = np.where(rows["first"], rows["top"], rows["second"]).astype(np.float64)
    assert report.auctions == rows["top"].size
    none = report.policies["none"]
    assert none.revenue_eur == pytest.approx(price[rows["top"] > 0].sum() / 1000, rel=1e-5)
    assert none.fill_rate == pytest.approx(np.mean(rows["top"] > 0))


def test_static_floor_is_the_best_on_training_days(report: FloorSimReport) -> None:
    best = max(report.static_curve, key=lambda p: p[1])
    assert report.static_floor == best[0]
    assert report.training_days == [START, START + timedelta(days=1)]
    assert report.held_out_day == END
    revenues = [r for _, r in report.static_curve]
    assert revenues[0] < best[1]  # some floor beats none on the training days


def test_policies_carry_uplift_with_an_ordered_interval(report: FloorSimReport) -> None:
    assert list(report.policies) == ["none", "static", "seed", "tuned"]
    static = report.policies["static"]
    assert static.uplift_vs_static_pct is None
    for name in ("none", "seed", "tuned"):
        p = report.policies[name]
        assert p.uplift_ci95_pct is not None and p.uplift_vs_static_pct is not None
        low, high = p.uplift_ci95_pct
        assert low <= p.uplift_vs_static_pct <= high
        assert p.fill_change_vs_static_pts == pytest.approx(100 * (p.fill_rate - static.fill_rate))
    # Floors only ever remove fills: nothing fills more than the unfloored auction.
    assert all(p.fill_rate <= report.policies["none"].fill_rate for p in report.policies.values())
    assert report.policies["seed"].mean_floor >= 0.5  # the seed's minimum floor
    assert report.tuned_basis in {"point", "lower80"} and 0.3 <= report.tuned_k <= 1.5


def test_control_share_is_measured_against_unfloored_traffic(report: FloorSimReport) -> None:
    assert [c.policy for c in report.control] == ["seed", "tuned"]
    for c in report.control:
        assert c.share == 0.1
        assert c.control_rpm_eur > 0
        assert c.lift_ci95_pct[0] <= c.lift_pct <= c.lift_ci95_pct[1]


def test_outputs_are_written_for_the_dashboard(tmp_path: Path, report: FloorSimReport) -> None:
    settings = Settings(profile="test", data_dir=tmp_path / "data")
    out = tmp_path / "data" / "pricing" / "floorsim"
    json_path, png_path = write_report(report, out)
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    body = json.loads(json_path.read_text())
    assert body["held_out_day"] == END.isoformat()
    assert latest_report(settings) == body
    assert render_table(report).row_count == 4


def test_one_day_is_not_enough(lake: Path, model: PricingModel) -> None:
    with pytest.raises(LakeError, match="at least two days"):
        simulate_floors(lake, END, END, model)
    with pytest.raises(ValueError, match="control share"):
        simulate_floors(lake, START, END, model, control_share=1.0)
