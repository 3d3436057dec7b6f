"""The demo's live floors feed the serving side's monitoring: every decision logged with its
model version, outcomes matched to the variant that priced them (the ``/v2/outcomes`` path).

Real SQLite database and bus, the real live exchange and serving runtime; two small models
(champion and challenger) instead of the demo's trained one, so a few minutes run in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from ssmas.core.platform import Platform, build_platform
from ssmas.exchange import FloorSlot, build_world, run_live
from ssmas.pricing.api_admin import serving_summary
from ssmas.pricing.demo import (
    DEMO_FLOOR_CONFIG,
    GROUPS,
    OUTCOME_SHARE,
    DemoFloorProvider,
    FloorLedger,
    ensure_floor_configs,
)
from ssmas.pricing.serving import store
from ssmas.pricing.serving.capture import sample_mask
from ssmas.pricing.serving.runtime import ServingRuntime, build_serving_runtime
from ssmas.pricing.web import _html
from ssmas.settings import PricingSettings, Settings
from tests.pricing_serving_support import small_model

EVENING = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)
MINUTES = 4
VERSIONS = {"champion": "1", "challenger": "2"}


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    built = build_platform(settings)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture()
def runtime(platform: Platform) -> Iterator[ServingRuntime]:
    config = PricingSettings(load_models=False, drift_interval_s=0, challenger_share=0.2)
    running = build_serving_runtime(platform, config)
    running.start()
    running.service.install("champion", small_model(0, VERSIONS["champion"]))
    running.service.install("challenger", small_model(1, VERSIONS["challenger"]))
    try:
        yield running
    finally:
        running.close()


def run_minutes(
    settings: Settings, runtime: ServingRuntime, outcome_share: float
) -> tuple[DemoFloorProvider, FloorLedger]:
    ensure_floor_configs(runtime, build_world(42), DEMO_FLOOR_CONFIG)
    ledger = FloorLedger()
    provider = DemoFloorProvider(
        runtime, ledger, publish=lambda _snapshot: None, outcome_share=outcome_share
    )
    slot = FloorSlot()
    slot.install(provider)
    try:
        report = run_live(
            settings,
            speed=100_000.0,
            minutes=MINUTES,
            start=EVENING,
            impressions_per_day=2_000_000,
            floors=slot,
        )
    finally:
        slot.remove(provider)
        provider.close()
    assert report.minutes == MINUTES and ledger.minutes == MINUTES
    runtime.writer.flush()
    return provider, ledger


def rows(platform: Platform, table: sa.Table) -> list[dict[str, Any]]:
    with platform.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(table.select())]


def check_variants_match_the_ledger(runtime: ServingRuntime, ledger: FloorLedger) -> None:
    """Every auctioned impression's outcome went to the variant that priced it."""
    variants = runtime.service.stats.as_dict()["variants"]
    totals = ledger.totals.sum(axis=0)  # auctions, filled, revenue, floor sum over all groups
    assert sum(v["outcomes"] for v in variants.values()) == int(totals[0])
    assert sum(v["filled"] for v in variants.values()) == int(totals[1])
    assert sum(v["revenue_eur"] for v in variants.values()) == pytest.approx(totals[2], rel=1e-6)
    for name, v in variants.items():
        assert v["version"] == VERSIONS[name]
        assert v["requests"] >= v["outcomes"] > 0 and v["filled"] > 0
        assert v["mean_realised_cpm"] > 0 and v["mean_predicted_filled_cpm"] > 0
        assert v["mae_eur"] >= abs(v["bias_eur"])  # |mean error| <= mean |error|
        assert v["bias_eur"] == pytest.approx(
            v["mean_realised_cpm"] - v["mean_predicted_filled_cpm"], abs=2e-4
        )
        assert v["latency_ms"]["p50"] is not None
    # The challenger prices about its 20% share.
    share = variants["challenger"]["requests"] / sum(v["requests"] for v in variants.values())
    assert 0.12 < share < 0.28


def test_every_decision_and_outcome_is_logged_with_its_model_version(
    settings: Settings, platform: Platform, runtime: ServingRuntime
) -> None:
    _provider, ledger = run_minutes(settings, runtime, outcome_share=1.0)
    variants = runtime.service.stats.as_dict()["variants"]
    priced = sum(v["requests"] for v in variants.values())

    decisions = rows(platform, store.floor_decisions)
    assert len(decisions) == priced
    assert len({d["impression_id"] for d in decisions}) == priced
    assert all(d["model_version"] == VERSIONS[d["variant"]] for d in decisions)
    assert all(d["publisher_id"] and d["impression_id"].startswith("live-") for d in decisions)
    reasons = {d["reason"] for d in decisions}
    assert {"dynamic", "control"} <= reasons
    assert all(d["control"] == (d["reason"] == "control") for d in decisions)
    assert all(d["floor"] is None for d in decisions if d["reason"] == "control")
    # The ledger's floored group is the dynamic decisions left in force (no operator override).
    dynamic = sum(1 for d in decisions if d["reason"] == "dynamic")
    assert int(ledger.totals[GROUPS.index("floored"), 0]) <= dynamic

    outcomes = rows(platform, store.outcomes)
    assert len(outcomes) == int(ledger.totals[:, 0].sum())  # one per auctioned impression
    by_id = {d["impression_id"]: d for d in decisions}
    for o in outcomes:
        decision = by_id[o["impression_id"]]  # every outcome answers a logged decision
        assert (o["variant"], o["model_version"]) == (
            decision["variant"],
            decision["model_version"],
        )
        assert o["predicted_cpm"] == pytest.approx(decision["predicted_cpm"])
        assert o["filled"] == (o["clearing_cpm"] is not None)
    filled = [o for o in outcomes if o["filled"]]
    assert len(filled) == int(ledger.totals[:, 1].sum())
    assert sum(o["revenue_eur"] for o in outcomes) == pytest.approx(
        ledger.totals[:, 2].sum(), rel=1e-6
    )
    check_variants_match_the_ledger(runtime, ledger)

    # The monitor's realised error (read from the table) agrees with the live summary.
    realised = runtime.monitor.realised(3600.0)["variants"]
    assert set(realised) == {"champion", "challenger"}
    for name, entry in realised.items():
        assert entry["mae_eur"] == pytest.approx(variants[name]["mae_eur"], abs=2e-4)
        assert entry["filled"] == variants[name]["filled"]


def test_by_default_every_decision_and_a_sticky_tenth_of_outcomes_are_logged(
    settings: Settings, platform: Platform, runtime: ServingRuntime
) -> None:
    _provider, ledger = run_minutes(settings, runtime, outcome_share=OUTCOME_SHARE)
    variants = runtime.service.stats.as_dict()["variants"]
    priced = sum(v["requests"] for v in variants.values())
    decisions = rows(platform, store.floor_decisions)
    ids = [d["impression_id"] for d in decisions]
    assert len(decisions) == len(set(ids)) == priced  # every decision, as /v2/floor logs them
    assert all(d["model_version"] == VERSIONS[d["variant"]] for d in decisions)
    outcomes = rows(platform, store.outcomes)
    kept = [o["impression_id"] for o in outcomes]
    assert set(kept) <= set(ids) and sample_mask(kept, OUTCOME_SHARE).all()
    auctioned = int(ledger.totals[:, 0].sum())
    assert 0.06 * auctioned < len(outcomes) < 0.14 * auctioned
    # The per-variant figures count every outcome, not only the logged sample.
    check_variants_match_the_ledger(runtime, ledger)
    captured = [c["impression_id"] for c in rows(platform, store.captures)]
    assert captured and set(captured) <= set(ids)
    assert sample_mask(captured, OUTCOME_SHARE).all()  # the 1% inside the outcome tenth

    # The Models page's live panel shows both variants' predicted vs realised figures.
    html = _html("pricing_live.html", serving=serving_summary(runtime))
    for name in ("champion", "challenger"):
        row = html.split(f'data-variant="{name}"')[1].split("</tr>")[0]
        mae = row.split('data-field="mae">')[1].split("<")[0]
        assert float(mae) == pytest.approx(variants[name]["mae_eur"])


def test_outcomes_of_unknown_impressions_count_as_unmatched(runtime: ServingRuntime) -> None:
    from ssmas.pricing.serving.stats import record_outcomes

    stats = runtime.service.stats
    stats.remember("known", "champion", "1", 2.0)
    matched = record_outcomes(
        stats,
        runtime.writer,
        ["known", "stranger"],
        np.array([2.5, np.nan]),
        np.array([np.nan, 0.0]),
        datetime.now(UTC),
    )
    assert matched == 1
    runtime.writer.flush()
    champion = stats.as_dict()["variants"]["champion"]
    assert (champion["outcomes"], champion["filled"]) == (1, 1)
    assert champion["mae_eur"] == pytest.approx(0.5) and champion["bias_eur"] == pytest.approx(0.5)
    assert champion["revenue_eur"] == pytest.approx(0.0025)  # derived: clearing CPM / 1000
    with runtime.platform.engine.connect() as conn:
        stored = {r.impression_id: r for r in conn.execute(store.outcomes.select())}
    assert stored["known"].variant == "champion" and stored["known"].predicted_cpm == 2.0
    assert stored["stranger"].variant is None and stored["stranger"].filled is False
