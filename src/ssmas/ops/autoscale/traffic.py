"""The load each service sees, hour by hour: simulated from the exchange's traffic, or a CSV.

Simulated: the exchange's expected requests per minute (``ssmas.exchange.expected_minute_volume``:
hour-of-day and weekday shapes with slow growth) drawn as Poisson counts minute by minute, as the
exchange's engine draws them; each service receives a fixed share of those requests. The load of
an hour is its busiest minute's rate in requests per second — what capacity must meet, not the
hour's average.

CSV (a live platform's history, e.g. exported from Prometheus's
``sum by (deployment) (rate(ssmas_api_requests_total[1m]))``): columns ``service,hour,rps`` with
``hour`` an ISO timestamp.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from ssmas.ops.autoscale.forecast import hour_index, hour_start


@dataclass(frozen=True)
class Service:
    """A Deployment of ``deploy/k8s``, the share of the exchange's requests it handles, and what
    one replica sustains (requests per second) and how long a request takes (for concurrency)."""

    name: str
    share: float
    capacity_rps: float
    latency_s: float
    min_replicas: int = 1
    max_replicas: int = 20


# The simulated platform: the API answers every ad request, the AdOps workers consume the
# exchange's per-request metrics, the assistant handles a small fraction as conversations.
# Capacities are the planning figures of docs/ops.md (one replica = the resources deploy/k8s asks).
SERVICES: tuple[Service, ...] = (
    Service("ssmas-api", 1.0, 60.0, 0.05, min_replicas=2, max_replicas=20),
    Service("ssmas-worker-adops", 1.0, 80.0, 0.01, min_replicas=1, max_replicas=12),
    Service("ssmas-worker-assistant", 0.02, 2.0, 0.8, min_replicas=1, max_replicas=10),
)


@dataclass(frozen=True)
class LoadHistory:
    """One service's hourly load: hour indices (``forecast.hour_index``) and requests/s."""

    service: str
    hours: np.ndarray
    rps: np.ndarray


def service_named(name: str) -> Service:
    for service in SERVICES:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in SERVICES)
    raise ValueError(f"unknown service {name!r}: one of {known}")


def simulate_load(
    start: date,
    days: int,
    *,
    requests_per_day: float,
    seed: int = 7,
    services: tuple[Service, ...] = SERVICES,
    growth_start: date | None = None,
) -> dict[str, LoadHistory]:
    """Hourly peak-minute load of each service over ``days`` days from ``start`` (00:00 UTC)."""
    from ssmas.exchange import expected_minute_volume

    if days < 1:
        raise ValueError("days must be at least 1")
    if not requests_per_day > 0:
        raise ValueError("requests per day must be positive")
    rng = np.random.default_rng(seed)
    since = growth_start or start
    expected = np.concatenate(
        [
            expected_minute_volume(requests_per_day, start + timedelta(days=d), since)
            for d in range(days)
        ]
    )
    first = hour_index(datetime(start.year, start.month, start.day, tzinfo=UTC))
    hours = np.arange(first, first + days * 24)
    out: dict[str, LoadHistory] = {}
    for service in services:
        minutes = rng.poisson(expected * service.share).reshape(days * 24, 60)
        out[service.name] = LoadHistory(service.name, hours, minutes.max(axis=1) / 60.0)
    return out


def read_csv(path: Path) -> dict[str, LoadHistory]:
    """Histories from a ``service,hour,rps`` CSV; ``ValueError`` with the line on bad input."""
    rows: dict[str, dict[int, float]] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"service", "hour", "rps"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: the header must name the columns service, hour, rps")
        for line, row in enumerate(reader, start=2):
            try:
                at = datetime.fromisoformat(row["hour"])
                rps = float(row["rps"])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{line}: {exc}") from None
            if not np.isfinite(rps) or rps < 0:
                raise ValueError(f"{path}:{line}: rps must be a non-negative number")
            name = (row["service"] or "").strip()
            if not name:
                raise ValueError(f"{path}:{line}: empty service")
            rows.setdefault(name, {})[hour_index(at)] = rps
    if not rows:
        raise ValueError(f"{path}: no rows")
    return {
        name: LoadHistory(
            name,
            np.array(sorted(found), dtype=np.int64),
            np.array([found[h] for h in sorted(found)]),
        )
        for name, found in rows.items()
    }


# The busiest minute of each hour of the API's request rate, evaluated at the hour's end.
PROMETHEUS_LOAD_QUERY = (
    'max_over_time(sum(rate(ssmas_api_requests_total{route!="/metrics"}[1m]))[59m:1m])'
)


def read_prometheus(
    url: str,
    *,
    days: int,
    end: datetime,
    services: tuple[Service, ...] = SERVICES,
    timeout_s: float = 30.0,
) -> dict[str, LoadHistory]:
    """Hourly load of each service from a Prometheus holding the platform's request counters.

    The API's busiest-minute request rate of each of the ``days * 24`` hours before ``end`` (an
    hour start); each service's load is its share of it, as in :func:`simulate_load`. Hours with
    no data are left out. ``ValueError`` when Prometheus cannot be asked or answers an error.
    """
    import httpx

    if days < 1:
        raise ValueError("days must be at least 1")
    last = hour_index(end) - 1
    first = last - days * 24 + 1
    params: dict[str, str | float] = {
        "query": PROMETHEUS_LOAD_QUERY,
        # A value at time T covers the hour before T.
        "start": hour_start(first + 1).timestamp(),
        "end": hour_start(last + 1).timestamp(),
        "step": "3600",
    }
    try:
        response = httpx.get(
            f"{url.rstrip('/')}/api/v1/query_range", params=params, timeout=timeout_s
        )
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ValueError(f"Prometheus at {url}: {exc}") from None
    if response.status_code != 200 or body.get("status") != "success":
        raise ValueError(f"Prometheus at {url}: {body.get('error', response.status_code)}")
    found: dict[int, float] = {}
    for series in body["data"]["result"]:
        for stamp, value in series["values"]:
            rps = float(value)
            if np.isfinite(rps):
                found[hour_index(datetime.fromtimestamp(float(stamp), UTC)) - 1] = rps
    if not found:
        raise ValueError(f"Prometheus at {url} holds no ssmas_api_requests_total in that range")
    hours = np.array(sorted(found), dtype=np.int64)
    api = np.array([found[h] for h in hours])
    return {s.name: LoadHistory(s.name, hours, api * s.share) for s in services}
