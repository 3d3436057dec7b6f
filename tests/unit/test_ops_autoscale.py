"""The autoscaling advisor: forecaster on known series, replica arithmetic, exported YAML."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ssmas.ops.autoscale.advisor import (
    advise,
    backtest,
    recommend,
    replica_concurrency,
    replicas_for,
)
from ssmas.ops.autoscale.export import PROMETHEUS_QUERY, blocks, export_yaml, weekly_replicas
from ssmas.ops.autoscale.forecast import (
    HOURS_PER_WEEK,
    Forecast,
    ForecastError,
    fit,
    hour_index,
    hour_of_week,
    hour_start,
)
from ssmas.ops.autoscale.traffic import SERVICES, LoadHistory, Service, read_csv, simulate_load

ROOT = Path(__file__).resolve().parents[2]
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def synthetic(
    weeks: int, growth_per_hour: float, noise: float = 0.0, seed: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    profile = np.exp(rng.normal(0.0, 0.5, HOURS_PER_WEEK))
    profile /= np.exp(np.log(profile).mean())  # geometric mean one
    first = hour_index(MONDAY)
    hours = np.arange(first, first + weeks * HOURS_PER_WEEK)
    t = hours - first
    values = 200.0 * np.exp(growth_per_hour * t) * profile[hours % HOURS_PER_WEEK]
    values *= np.exp(rng.normal(0.0, noise, hours.size)) if noise else 1.0
    return hours, values, profile


def test_hour_of_week_counts_from_monday_midnight_utc() -> None:
    assert hour_of_week(MONDAY) == 0
    assert hour_of_week(MONDAY + timedelta(days=6, hours=23, minutes=59)) == 167
    assert hour_of_week(MONDAY + timedelta(days=7)) == 0
    assert hour_start(hour_index(MONDAY + timedelta(hours=5, minutes=30))) == MONDAY + timedelta(
        hours=5
    )


def test_the_forecaster_recovers_an_exact_profile_and_trend() -> None:
    hours, values, profile = synthetic(weeks=3, growth_per_hour=0.0004)
    model = fit(hours, values)
    np.testing.assert_allclose(model.multiplicative_profile, profile, rtol=1e-9)
    assert model.trend_per_hour == pytest.approx(0.0004, rel=1e-9)
    forecast = model.predict(hour_start(int(hours[-1]) + 1), 48)
    t = np.arange(hours.size, hours.size + 48)
    expected = 200.0 * np.exp(0.0004 * t) * profile[(hours[0] + t) % HOURS_PER_WEEK]
    np.testing.assert_allclose(forecast.point, expected, rtol=1e-9)
    # No noise: the interval collapses onto the point.
    np.testing.assert_allclose(forecast.upper, forecast.point, rtol=1e-9)


def test_intervals_cover_noisy_hours_at_about_their_level() -> None:
    hours, values, _ = synthetic(weeks=8, growth_per_hour=0.0, noise=0.1, seed=3)
    model = fit(hours[: 6 * HOURS_PER_WEEK], values[: 6 * HOURS_PER_WEEK])
    forecast = model.predict(hour_start(int(hours[6 * HOURS_PER_WEEK])), 2 * HOURS_PER_WEEK, 0.9)
    actual = values[6 * HOURS_PER_WEEK :]
    inside = np.mean((actual >= forecast.lower) & (actual <= forecast.upper))
    assert 0.84 <= inside <= 0.97
    assert np.all(forecast.lower < forecast.point) and np.all(forecast.point < forecast.upper)


def test_a_history_missing_an_hour_of_the_week_is_refused() -> None:
    hours, values, _ = synthetic(weeks=1, growth_per_hour=0.0)
    with pytest.raises(ForecastError, match="misses 1 of the 168"):
        fit(hours[1:], values[1:])
    with pytest.raises(ForecastError, match="non-negative"):
        fit(hours, np.r_[values[:-1], -1.0])
    with pytest.raises(ForecastError, match="twice"):
        fit(np.r_[hours, hours[:1]], np.r_[values, values[:1]])


SERVICE = Service("ssmas-api", 1.0, 50.0, 0.2, min_replicas=2, max_replicas=6)


def test_replicas_are_the_bound_over_capacity_rounded_up_within_limits() -> None:
    assert replicas_for(0.0, SERVICE) == (2, False)
    assert replicas_for(150.0, SERVICE) == (3, False)  # exactly three replicas' worth
    assert replicas_for(150.1, SERVICE) == (4, False)
    assert replicas_for(301.0, SERVICE) == (6, True)  # seven needed, six allowed
    assert replica_concurrency(SERVICE) == 10  # 50 rps x 0.2 s in flight
    with pytest.raises(ValueError):
        replicas_for(float("nan"), SERVICE)


def test_advice_follows_the_upper_bound_hour_by_hour() -> None:
    point = np.array([90.0, 140.0, 260.0])
    forecast = Forecast(MONDAY, point, point * 0.9, point * 1.1, 0.95)
    advice = advise(SERVICE, forecast)
    assert [h.replicas for h in advice.hours] == [2, 4, 6]  # 99, 154, 286 rps
    assert [h.concurrency for h in advice.hours] == [20, 31, 58]  # ceil(upper x 0.2 s)
    assert [h.capped for h in advice.hours] == [False, False, False]
    assert (advice.min_replicas, advice.max_replicas) == (2, 6)


def test_the_backtest_on_a_simulated_month_covers_the_load() -> None:
    history = simulate_load(date(2026, 1, 5), 21 + 7, requests_per_day=30e6, seed=5)
    service = SERVICES[0]
    result = backtest(service, history[service.name], warmup_hours=21 * 24)
    assert result.hours == 7 * 24 and result.origins == 7
    assert result.cover_pct >= 95.0
    assert 0.0 < result.overprovision_pct <= 30.0
    assert 0.0 < result.mape_pct < 5.0


def k8s_deployments() -> set[str]:
    names = set()
    for path in (ROOT / "deploy" / "k8s").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Deployment":
                names.add(doc["metadata"]["name"])
    return names


def exported_docs() -> list[dict[str, Any]]:
    histories = simulate_load(date(2026, 1, 5), 21, requests_per_day=30e6, seed=2)
    advices = [recommend(s, histories[s.name], HOURS_PER_WEEK) for s in SERVICES]
    text = export_yaml(advices, kind="both", prometheus_url="http://prometheus:9090")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def test_exported_autoscalers_target_the_deployments_of_deploy_k8s() -> None:
    docs = exported_docs()
    deployments = k8s_deployments()
    assert {d["kind"] for d in docs} == {"HorizontalPodAutoscaler", "ScaledObject"}
    assert len(docs) == 2 * len(SERVICES)
    for doc in docs:
        target = doc["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments
        assert doc["metadata"]["name"] == target["name"]
    rules = (ROOT / "deploy" / "prometheus" / "rules" / "ssmas.yml").read_text()
    assert "ssmas_api_requests_total" in PROMETHEUS_QUERY and "ssmas_api_requests_total" in rules


def test_the_hpa_spans_the_advised_replicas() -> None:
    for doc in exported_docs():
        if doc["kind"] != "HorizontalPodAutoscaler":
            continue
        spec = doc["spec"]
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]
        target = spec["metrics"][0]["external"]["target"]
        assert target["type"] == "AverageValue"
        if doc["metadata"]["name"] == "ssmas-api":
            assert target["averageValue"] == "60"
            assert spec["minReplicas"] == 2 and spec["maxReplicas"] > 5


def test_keda_cron_blocks_cover_the_week_with_the_advised_replicas() -> None:
    for doc in exported_docs():
        if doc["kind"] != "ScaledObject":
            continue
        triggers = doc["spec"]["triggers"]
        crons = [t for t in triggers if t["type"] == "cron"]
        assert triggers[-1]["type"] == "prometheus"
        assert triggers[-1]["metadata"]["query"] == PROMETHEUS_QUERY
        hours = 0
        for cron in crons:
            minute, hour, _, _, day = cron["metadata"]["start"].split()
            assert minute == "0" and 0 <= int(hour) < 24 and day in "0123456"
            hours += int(cron["name"].split("-")[2].rstrip("h"))
            assert int(cron["metadata"]["desiredReplicas"]) >= doc["spec"]["minReplicaCount"]
        assert hours == HOURS_PER_WEEK  # a week of advice leaves no hour without a block


def test_blocks_fold_runs_of_equal_replicas() -> None:
    week: list[int | None] = [None] * HOURS_PER_WEEK
    week[0:3] = [2, 2, 5]
    week[167] = 3
    assert blocks(week) == [(0, 2, 2), (2, 1, 5), (167, 1, 3)]
    point = np.full(2, 100.0)
    advice = advise(SERVICE, Forecast(MONDAY + timedelta(hours=23), point, point, point, 0.9))
    assert weekly_replicas(advice)[23:25] == [2, 2]


def test_histories_read_from_csv_and_bad_rows_are_named(tmp_path: Path) -> None:
    good = tmp_path / "load.csv"
    good.write_text(
        "service,hour,rps\nssmas-api,2026-03-02T01:00:00+00:00,12.5\n"
        "ssmas-api,2026-03-02T00:00:00+00:00,10\n"
    )
    found = read_csv(good)
    history: LoadHistory = found["ssmas-api"]
    assert list(history.rps) == [10.0, 12.5]
    assert list(history.hours) == [hour_index(MONDAY), hour_index(MONDAY) + 1]
    bad = tmp_path / "bad.csv"
    bad.write_text("service,hour,rps\nssmas-api,yesterday,1\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2"):
        read_csv(bad)
