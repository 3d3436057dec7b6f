"""The retraining workflow end to end: real lake, real MLflow registry, real database and bus."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ssmas.core.platform import Platform, build_platform
from ssmas.core.registry import ModelRegistry
from ssmas.pricing.lifecycle.retrain_decisions import (
    TOPIC_DECIDED,
    TOPIC_PROMOTED,
    RetrainDecision,
    recent_decisions,
    record_decision,
)
from ssmas.pricing.lifecycle.retraining import RetrainConfig, RetrainDeps, due_trigger, run_retrain
from ssmas.pricing.model.bundle import MODEL_NAME
from ssmas.pricing.model.training import train_from_lake
from ssmas.settings import PricingSettings, Settings

from .pricing_support import START, copy_lake, fresh_registry, write_drifted_day, write_next_day

pytestmark = pytest.mark.slow
T0 = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)
FAST = {"num_boost_round": 40}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = build_platform(Settings(profile="test", data_dir=tmp_path / "data"))
    yield p
    p.close()


@pytest.fixture()
def registry(tmp_path: Path, platform: Platform) -> ModelRegistry:
    return fresh_registry(tmp_path.parent, platform.settings)


def _champion(registry: ModelRegistry, lake: Path) -> int:
    result = train_from_lake(lake, START, START + timedelta(days=2), registry=registry, params=FAST)
    assert result.info is not None and result.alias == "champion"
    return result.info.version


def _topic(platform: Platform, topic: str) -> list[dict[str, object]]:
    return [dict(m.payload) for m in platform.bus.replay(topic)]


def test_drifted_day_schedules_then_retrains_and_deploys_a_challenger(
    tmp_path: Path, platform: Platform, registry: ModelRegistry
) -> None:
    lake = copy_lake(tmp_path.parent, tmp_path / "lake")
    champion = _champion(registry, lake)
    write_drifted_day(lake, price_factor=1.0)
    clock = Clock(T0)
    deps = RetrainDeps(registry, platform.session_factory, platform.bus, clock)
    # Feature drift alone: the price and error triggers are out of reach here.
    config = RetrainConfig(
        lake=lake,
        window_days=2,
        schedule_delay_h=6,
        params=FAST,
        label_shift_above=10.0,
        error_growth_above=10.0,
    )

    scheduled = run_retrain(deps, config, trigger="schedule")
    assert scheduled.drift_level in {"WARNING", "CRITICAL"}
    assert scheduled.drift_score is not None and scheduled.drift_score > 0.5
    assert scheduled.outcome == "scheduled"
    assert scheduled.scheduled_for == T0 + timedelta(hours=6)
    assert scheduled.details["features"]["day_of_week"] == 0.0  # a Saturday: no reference
    assert due_trigger(deps, last_check=T0, interval=timedelta(hours=24)) is None

    clock.now = T0 + timedelta(hours=7)
    trigger = due_trigger(deps, last_check=T0, interval=timedelta(hours=24))
    assert trigger == "scheduled"
    decision = run_retrain(deps, config, force=True, trigger=trigger)

    assert decision.trigger == "scheduled"
    # Better offline: deployed as challenger, never promoted without online evidence.
    assert decision.outcome == "challenger_deployed" and not decision.promoted
    assert decision.champion_version == champion
    assert decision.challenger_rmse is not None and decision.champion_rmse is not None
    assert decision.challenger_rmse < decision.champion_rmse
    assert registry.get_version_by_alias(MODEL_NAME, "champion").version == champion  # type: ignore[union-attr]
    assert registry.get_version_by_alias(MODEL_NAME, "challenger").version == (  # type: ignore[union-attr]
        decision.challenger_version
    )
    stored = recent_decisions(platform.session_factory)
    assert [d.outcome for d in stored] == ["challenger_deployed", "scheduled"]
    assert stored[0].details["champion_metrics"]["rows"] > 0
    assert [p["outcome"] for p in _topic(platform, TOPIC_DECIDED)] == [
        "scheduled",
        "challenger_deployed",
    ]
    assert _topic(platform, TOPIC_PROMOTED) == []
    # Nothing is due any more: the scheduled run has happened.
    assert due_trigger(deps, last_check=clock.now, interval=timedelta(hours=24)) is None


def test_a_price_level_shift_with_unchanged_features_triggers_retraining(
    tmp_path: Path, platform: Platform, registry: ModelRegistry
) -> None:
    shifted_lake = copy_lake(tmp_path.parent, tmp_path / "shifted")
    same_lake = copy_lake(tmp_path.parent, tmp_path / "same")
    champion = _champion(registry, shifted_lake)
    write_next_day(shifted_lake, price_factor=1.2)
    write_next_day(same_lake, price_factor=1.0)
    deps = RetrainDeps(registry, platform.session_factory, platform.bus, Clock(T0))

    unchanged = run_retrain(deps, RetrainConfig(lake=same_lake, params=FAST))
    assert unchanged.outcome == "monitoring" and unchanged.action == "monitor_only"
    # A new weekday with unchanged traffic: the calendar is compared like for like.
    assert unchanged.details["features"]["day_of_week"] == 0.0
    assert unchanged.drift_level == "OK"
    assert abs(unchanged.details["label_shift"]) < 0.05
    assert unchanged.details["error_growth"] < 0.1

    shifted = run_retrain(deps, RetrainConfig(lake=shifted_lake, params=FAST))
    assert shifted.action == "retrain_now"
    assert shifted.drift_level == "OK"  # the features did not move: the prices did
    assert shifted.details["label_shift"] > 0.15
    assert "price level moved" in shifted.reason
    assert shifted.outcome in {"challenger_deployed", "kept_champion"}
    assert not shifted.promoted
    assert registry.get_version_by_alias(MODEL_NAME, "champion").version == champion  # type: ignore[union-attr]


def _next_days(lake: Path, day: date, factors: list[float]) -> date:
    """Append a day per factor after ``day`` (each a copy of the one before, prices times it)."""
    for factor in factors:
        day = write_next_day(lake, source=day, price_factor=factor)
    return day


def test_a_normal_weekend_is_no_price_level_shift(
    tmp_path: Path, platform: Platform, registry: ModelRegistry
) -> None:
    # Weekdays at the simulator's prices, weekends 40% lower. The champion trains on Monday to
    # Sunday (the next Monday and Tuesday are its calibration and test days).
    lake = copy_lake(tmp_path.parent, tmp_path / "weekly")
    tuesday = _next_days(lake, START + timedelta(days=2), [1.0, 1.0, 0.6, 1.0, 1 / 0.6, 1.0])
    train_from_lake(lake, START, tuesday, registry=registry, params=FAST)
    deps = RetrainDeps(registry, platform.session_factory, platform.bus, Clock(T0))
    # the error trigger is out of reach: this is about the price level alone
    config = RetrainConfig(lake=lake, params=FAST, error_growth_above=10.0)

    saturday = _next_days(lake, tuesday, [1.0, 1.0, 1.0, 0.6])
    assert saturday.isoweekday() == 6
    weekend = run_retrain(deps, config)
    assert weekend.details["drift_day"] == saturday.isoformat()
    assert weekend.action == "monitor_only" and weekend.outcome == "monitoring"
    assert abs(weekend.details["label_shift"]) < 0.05  # against Saturday's prices, not all days

    _next_days(lake, saturday, [1.2])  # a Sunday 20% above the weekend's level
    sunday = run_retrain(deps, config)
    assert sunday.details["label_shift"] == pytest.approx(0.2, abs=0.05)
    assert sunday.action == "retrain_now" and "price level moved" in sunday.reason


def test_a_worse_challenger_keeps_the_champion(
    tmp_path: Path, platform: Platform, registry: ModelRegistry
) -> None:
    lake = copy_lake(tmp_path.parent, tmp_path / "lake")
    champion = _champion(registry, lake)
    deps = RetrainDeps(registry, platform.session_factory, platform.bus, Clock(T0))
    weak = RetrainConfig(lake=lake, params={"num_boost_round": 1, "max_depth": 1})

    monitored = run_retrain(deps, weak)
    assert monitored.outcome == "monitoring" and monitored.drift_level == "OK"
    decision = run_retrain(deps, weak, force=True)

    assert decision.trigger == "forced"
    assert decision.outcome == "kept_champion" and not decision.promoted
    assert decision.challenger_rmse is not None and decision.champion_rmse is not None
    assert decision.challenger_rmse >= decision.champion_rmse
    assert registry.get_version_by_alias(MODEL_NAME, "champion").version == champion  # type: ignore[union-attr]
    challenger = registry.get_version_by_alias(MODEL_NAME, "challenger")
    assert challenger is not None and challenger.version == decision.challenger_version
    assert _topic(platform, TOPIC_PROMOTED) == []
    assert [d.outcome for d in recent_decisions(platform.session_factory)] == [
        "kept_champion",
        "monitoring",
    ]


def test_an_empty_registry_bootstraps_a_champion(
    tmp_path: Path, platform: Platform, registry: ModelRegistry
) -> None:
    lake = copy_lake(tmp_path.parent, tmp_path / "lake")
    deps = RetrainDeps(registry, platform.session_factory, platform.bus, Clock(T0))
    decision = run_retrain(deps, RetrainConfig(lake=lake, params=FAST))
    assert decision.outcome == "bootstrapped" and decision.promoted
    info = registry.get_version_by_alias(MODEL_NAME, "champion")
    assert info is not None and info.version == decision.challenger_version


@pytest.mark.postgres
def test_decisions_are_recorded_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    settings = Settings(profile="test", data_dir=tmp_path / "data", database_url=pg_url)
    platform = build_platform(settings)
    try:
        decision = RetrainDecision(
            decided_at=T0,
            trigger="command",
            drift_score=0.61,
            drift_level="WARNING",
            action="schedule_retraining",
            outcome="scheduled",
            scheduled_for=T0 + timedelta(hours=6),
            reason="test",
            details={"features": {"day_of_week": 1.0}},
        )
        stored = record_decision(platform.session_factory, platform.bus, decision)
        loaded = recent_decisions(platform.session_factory)
        assert loaded == [stored]
        assert loaded[0].scheduled_for == T0 + timedelta(hours=6)
    finally:
        platform.close()


def test_the_worker_loop_bootstraps_a_champion_and_stops(
    tmp_path: Path, registry: ModelRegistry
) -> None:
    import threading

    from ssmas.pricing.lifecycle.retraining import run_retrain_loop

    lake = copy_lake(tmp_path.parent, tmp_path / "lake")
    section = PricingSettings(lake=lake, retrain_interval_s=86400)
    settings = Settings(profile="test", data_dir=tmp_path / "data", pricing=section)
    platform = build_platform(settings)  # the registry fixture's data directory
    stop = threading.Event()
    worker = threading.Thread(target=run_retrain_loop, args=(platform, stop), daemon=True)
    worker.start()
    try:
        for _ in range(600):
            if recent_decisions(platform.session_factory):
                break
            stop.wait(0.1)
        stop.set()
        worker.join(timeout=30)
        decisions = recent_decisions(platform.session_factory)
    finally:
        stop.set()
        platform.close()
    assert not worker.is_alive()
    [decision] = decisions
    assert decision.outcome == "bootstrapped" and decision.trigger == "schedule"
    assert registry.get_version_by_alias(MODEL_NAME, "champion") is not None
