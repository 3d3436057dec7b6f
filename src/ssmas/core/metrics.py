"""Prometheus metrics: the platform registry and checked constructors for product metrics.

Every metric is named ``ssmas_<product>_<thing>_<unit>`` (for example
``ssmas_pricing_predictions_total`` or ``ssmas_api_request_duration_seconds``); the constructors
refuse any other shape. They are idempotent: asking twice for the same name returns the same
metric, so modules and app factories may call them freely. ``render`` produces the text served
at ``/metrics``; when ``PROMETHEUS_MULTIPROC_DIR`` is set (several server workers) it merges the
per-process files instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics import MetricWrapperBase

from ssmas.settings import prometheus_multiproc_dir

__all__ = [
    "LATENCY_BUCKETS",
    "REGISTRY",
    "UNITS",
    "counter",
    "gauge",
    "histogram",
    "metric_name",
    "render",
]

REGISTRY = CollectorRegistry()
"""The registry behind ``/metrics``; product metrics made with this module land here."""
ProcessCollector(registry=REGISTRY)

UNITS = frozenset(
    {"total", "seconds", "bytes", "ratio", "count", "eur", "info", "timestamp_seconds"}
)
"""Allowed final parts of a name; counters must use ``total`` and nothing else may."""

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Histogram buckets (seconds) fine enough to see a millisecond-level API target."""

_PRODUCT = re.compile(r"^[a-z][a-z0-9]*$")
_THING = re.compile(r"^[a-z][a-z0-9_]*[a-z0-9]$|^[a-z]$")
_LABEL = re.compile(r"^[a-z][a-z0-9_]*$")

M = TypeVar("M", bound=MetricWrapperBase)
_made: dict[str, MetricWrapperBase] = {}


def metric_name(product: str, thing: str, unit: str) -> str:
    """Build and check ``ssmas_<product>_<thing>_<unit>``; raise ``ValueError`` on a bad part."""
    if not _PRODUCT.match(product):
        raise ValueError(f"metric product {product!r} must be one lowercase word")
    if not _THING.match(thing) or "__" in thing:
        raise ValueError(f"metric thing {thing!r} must be lowercase words joined by '_'")
    if unit not in UNITS:
        raise ValueError(f"metric unit {unit!r} must be one of {sorted(UNITS)}")
    if thing.endswith(f"_{unit}"):
        raise ValueError(f"metric thing {thing!r} already ends with its unit {unit!r}")
    return f"ssmas_{product}_{thing}_{unit}"


def _make(kind: type[M], name: str, doc: str, labels: Sequence[str], **extra: Any) -> M:
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(f"metric label {label!r} must be lowercase snake_case")
    existing = _made.get(name)
    if existing is not None:
        if type(existing) is not kind or tuple(existing._labelnames) != tuple(labels):
            raise ValueError(f"metric {name} already exists with another kind or labels")
        return existing  # type: ignore[return-value]
    metric = kind(name, doc, labelnames=tuple(labels), registry=REGISTRY, **extra)
    _made[name] = metric
    return metric


def counter(product: str, thing: str, doc: str, labels: Sequence[str] = ()) -> Counter:
    """A counter named ``ssmas_<product>_<thing>_total``."""
    return _make(Counter, metric_name(product, thing, "total"), doc, labels)


def gauge(product: str, thing: str, unit: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
    """A gauge named ``ssmas_<product>_<thing>_<unit>`` (``unit`` other than ``total``)."""
    if unit == "total":
        raise ValueError("a gauge is not a running total: use counter()")
    return _make(Gauge, metric_name(product, thing, unit), doc, labels)


def histogram(
    product: str,
    thing: str,
    doc: str,
    labels: Sequence[str] = (),
    *,
    unit: str = "seconds",
    buckets: Sequence[float] = LATENCY_BUCKETS,
) -> Histogram:
    """A histogram named ``ssmas_<product>_<thing>_<unit>`` (seconds unless told)."""
    if unit == "total":
        raise ValueError("a histogram is not a running total: use counter()")
    return _make(Histogram, metric_name(product, thing, unit), doc, labels, buckets=tuple(buckets))


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition of every platform metric, and its content type."""
    if prometheus_multiproc_dir():
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
