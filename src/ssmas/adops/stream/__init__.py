"""The AdOps stream: exchange metric points and posted series in, windows, detector, alerts out."""

from __future__ import annotations

from ssmas.adops.stream.alerts import Alert, MetricAnomaly
from ssmas.adops.stream.composite import (
    CompositeRuleError,
    CompositeRules,
    default_rules,
    parse_rules,
)
from ssmas.adops.stream.online import StreamDetector, StreamDetectorConfig
from ssmas.adops.stream.processor import StreamInputError, StreamProcessor

__all__ = [
    "Alert",
    "CompositeRuleError",
    "CompositeRules",
    "MetricAnomaly",
    "StreamDetector",
    "StreamDetectorConfig",
    "StreamInputError",
    "StreamProcessor",
    "default_rules",
    "parse_rules",
]
