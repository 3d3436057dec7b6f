"""Replicas and concurrency from a load forecast, and a rolling-origin backtest of the advice.

Replicas of an hour: ``ceil(upper / capacity_rps)`` — the interval's upper bound over what one
replica sustains — held between the service's minimum and maximum (``capped`` says when the
maximum cut the advice). Concurrency per replica is Little's law at full load:
``ceil(capacity_rps * latency_s)`` requests in flight; the total is the same for the forecast's
upper bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ssmas.ops.autoscale.forecast import Forecast, fit, hour_start
from ssmas.ops.autoscale.traffic import LoadHistory, Service


@dataclass(frozen=True)
class HourAdvice:
    """What one hour needs: the forecast (requests/s) and the replicas that serve its bound."""

    hour: datetime
    point_rps: float
    lower_rps: float
    upper_rps: float
    replicas: int
    concurrency: int
    capped: bool


@dataclass(frozen=True)
class Advice:
    """A service's advice for consecutive hours, with the concurrency of one replica."""

    service: Service
    forecast: Forecast
    hours: list[HourAdvice]

    @property
    def concurrency_per_replica(self) -> int:
        return replica_concurrency(self.service)

    @property
    def min_replicas(self) -> int:
        return min(h.replicas for h in self.hours)

    @property
    def max_replicas(self) -> int:
        return max(h.replicas for h in self.hours)


def replica_concurrency(service: Service) -> int:
    """Requests one replica holds in flight at full load (Little's law), at least one."""
    return max(1, math.ceil(service.capacity_rps * service.latency_s - 1e-9))


def replicas_for(rps: float, service: Service) -> tuple[int, bool]:
    """Replicas that serve ``rps`` requests/s, within the service's bounds; and whether capped."""
    if not math.isfinite(rps) or rps < 0:
        raise ValueError("load must be a finite non-negative rate")
    needed = max(service.min_replicas, math.ceil(rps / service.capacity_rps - 1e-9))
    return min(needed, service.max_replicas), needed > service.max_replicas


def advise(service: Service, forecast: Forecast) -> Advice:
    """Replicas and concurrency for every hour of ``forecast``."""
    per_replica = replica_concurrency(service)
    rows = []
    for i, at in enumerate(forecast.hours()):
        replicas, capped = replicas_for(float(forecast.upper[i]), service)
        rows.append(
            HourAdvice(
                hour=at,
                point_rps=float(forecast.point[i]),
                lower_rps=float(forecast.lower[i]),
                upper_rps=float(forecast.upper[i]),
                replicas=replicas,
                concurrency=min(
                    replicas * per_replica,
                    max(1, math.ceil(float(forecast.upper[i]) * service.latency_s)),
                ),
                capped=capped,
            )
        )
    return Advice(service, forecast, rows)


def recommend(service: Service, history: LoadHistory, hours: int, *, level: float = 0.95) -> Advice:
    """Fit the history and advise the ``hours`` after its last hour."""
    model = fit(history.hours, history.rps)
    forecast = model.predict(hour_start(model.last + 1), hours, level=level)
    return advise(service, forecast)


@dataclass(frozen=True)
class BacktestResult:
    """Rolling-origin figures of one service over the evaluated hours."""

    service: str
    hours: int
    origins: int
    cover_pct: float  # share of hours whose advised capacity met the real load
    overprovision_pct: float  # mean of (capacity - load) / load over the hours, 0 when short
    mape_pct: float  # mean absolute percentage error of the point forecast
    interval_cover_pct: float  # share of hours inside the prediction interval


def backtest(
    service: Service,
    history: LoadHistory,
    *,
    warmup_hours: int,
    horizon: int = 24,
    level: float = 0.95,
) -> BacktestResult:
    """From origin ``warmup_hours`` on, every ``horizon`` hours: fit everything before the origin,
    advise the next ``horizon`` hours, and compare with what came."""
    n = history.rps.size
    if warmup_hours < 168 or warmup_hours >= n:
        raise ValueError("the warm-up must be at least a week and shorter than the history")
    if horizon < 1:
        raise ValueError("the horizon must be at least one hour")
    covered = over = ape = inside = 0.0
    count = origins = 0
    for origin in range(warmup_hours, n, horizon):
        model = fit(history.hours[:origin], history.rps[:origin])
        stop = min(origin + horizon, n)
        forecast = model.predict(hour_start(int(history.hours[origin])), stop - origin, level)
        advice = advise(service, forecast)
        actual = history.rps[origin:stop]
        capacity = np.array([h.replicas for h in advice.hours]) * service.capacity_rps
        load = np.maximum(actual, 1e-9)
        covered += float(np.sum(capacity >= actual))
        over += float(np.sum(np.maximum(capacity - actual, 0.0) / load))
        ape += float(np.sum(np.abs(forecast.point - actual) / load))
        inside += float(np.sum((actual >= forecast.lower) & (actual <= forecast.upper)))
        count += stop - origin
        origins += 1
    return BacktestResult(
        service=service.name,
        hours=count,
        origins=origins,
        cover_pct=100.0 * covered / count,
        overprovision_pct=100.0 * over / count,
        mape_pct=100.0 * ape / count,
        interval_cover_pct=100.0 * inside / count,
    )
