"""Advice as Kubernetes objects: a HorizontalPodAutoscaler and a KEDA ScaledObject per service.

HPA (``autoscaling/v2``): ``minReplicas`` / ``maxReplicas`` the least and most the advice asks for
over its hours, scaling on the platform's request rate (an External metric the Prometheus adapter
serves from ``ssmas_api_requests_total`` of the API's job) with, as the per-pod target, what one
replica sustains expressed in API requests (capacity over the service's share of them: the
workers' load follows the API's).

KEDA (``keda.sh/v1alpha1``): the advice folded onto the week — for every hour of the week the most
replicas any advised hour at that hour asked for — then cut into blocks of equal replicas, one
``cron`` trigger per block (``desiredReplicas`` from its start to its end, UTC), plus a
``prometheus`` trigger on the same request rate so a load the forecast missed still scales out.
"""

from __future__ import annotations

from typing import Any

import yaml

from ssmas.ops.autoscale.advisor import Advice
from ssmas.ops.autoscale.forecast import HOURS_PER_WEEK, hour_of_week
from ssmas.ops.autoscale.traffic import Service

REQUEST_RATE_METRIC = "ssmas_api_requests_per_second"
API_JOB = "ssmas-api"
PROMETHEUS_QUERY = f'sum(rate(ssmas_api_requests_total{{route!="/metrics", job="{API_JOB}"}}[2m]))'
_DAYS = ("1", "2", "3", "4", "5", "6", "0")  # cron day of week, Monday first


def api_rps_per_replica(service: Service) -> float:
    """API requests per second one replica of ``service`` keeps up with."""
    return service.capacity_rps / service.share


def hpa(advice: Advice) -> dict[str, Any]:
    """The HorizontalPodAutoscaler of the advice's service."""
    service = advice.service
    return _scaler(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        service,
        {
            "minReplicas": advice.min_replicas,
            "maxReplicas": max(advice.max_replicas, advice.min_replicas),
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {
                            "name": REQUEST_RATE_METRIC,
                            "selector": {"matchLabels": {"job": API_JOB}},
                        },
                        "target": {
                            "type": "AverageValue",
                            "averageValue": _quantity(api_rps_per_replica(service)),
                        },
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    )


def _scaler(api_version: str, kind: str, service: Service, spec: dict[str, Any]) -> dict[str, Any]:
    """An autoscaling object named after ``service``, labelled as the advice's, scaling its
    Deployment by ``spec``."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": service.name,
            "labels": {"app.kubernetes.io/part-of": "ssmas", "ssmas.io/advice": "autoscale"},
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service.name},
            **spec,
        },
    }


def weekly_replicas(advice: Advice) -> list[int | None]:
    """Replicas per hour of the week (Monday 00:00 UTC first); ``None`` where none was advised."""
    week: list[int | None] = [None] * HOURS_PER_WEEK
    for hour in advice.hours:
        slot = hour_of_week(hour.hour)
        week[slot] = max(week[slot] or 0, hour.replicas)
    return week


def blocks(week: list[int | None]) -> list[tuple[int, int, int]]:
    """Runs of equal replicas as (first hour of week, hours, replicas); unadvised hours skipped."""
    found: list[tuple[int, int, int]] = []
    start = 0
    while start < HOURS_PER_WEEK:
        value = week[start]
        end = start + 1
        while end < HOURS_PER_WEEK and week[end] == value:
            end += 1
        if value is not None:
            found.append((start, end - start, value))
        start = end
    return found


def _cron(hour_of_week_: int) -> str:
    day, hour = divmod(hour_of_week_ % HOURS_PER_WEEK, 24)
    return f"0 {hour} * * {_DAYS[day]}"


def scaled_object(advice: Advice, *, prometheus_url: str) -> dict[str, Any]:
    """The KEDA ScaledObject of the advice's service."""
    service = advice.service
    triggers: list[dict[str, Any]] = []
    for first, length, replicas in blocks(weekly_replicas(advice)):
        triggers.append(
            {
                "type": "cron",
                "name": f"how-{first:03d}-{length}h",
                "metadata": {
                    "timezone": "Etc/UTC",
                    "start": _cron(first),
                    "end": _cron(first + length),
                    "desiredReplicas": str(replicas),
                },
            }
        )
    triggers.append(
        {
            "type": "prometheus",
            "name": "request-rate",
            "metadata": {
                "serverAddress": prometheus_url,
                "query": PROMETHEUS_QUERY,
                "threshold": _quantity(api_rps_per_replica(service)),
            },
        }
    )
    return _scaler(
        "keda.sh/v1alpha1",
        "ScaledObject",
        service,
        {
            "minReplicaCount": service.min_replicas,
            "maxReplicaCount": max(service.max_replicas, advice.max_replicas),
            "cooldownPeriod": 300,
            "triggers": triggers,
        },
    )


def _quantity(value: float) -> str:
    """A Kubernetes quantity: whole numbers plain, fractions in milli-units."""
    milli = round(value * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def export_yaml(advices: list[Advice], *, kind: str, prometheus_url: str) -> str:
    """A multi-document YAML of ``kind`` ``hpa``, ``keda`` or ``both`` for every advice."""
    if kind not in {"hpa", "keda", "both"}:
        raise ValueError(f"unknown kind {kind!r}: hpa, keda or both")
    docs: list[dict[str, Any]] = []
    for advice in advices:
        if kind in {"hpa", "both"}:
            docs.append(hpa(advice))
        if kind in {"keda", "both"}:
            docs.append(scaled_object(advice, prometheus_url=prometheus_url))
    header = "# Generated by `ssmas ops autoscale export` from the advisor's forecast.\n"
    return header + str(yaml.safe_dump_all(docs, sort_keys=False))
