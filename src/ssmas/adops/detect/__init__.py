"""Streaming anomaly detection for metric series: a score in [0, 1] per point, causal."""

from __future__ import annotations

from ssmas.adops.detect.detector import DetectorConfig, SeriesDetector, score_series
from ssmas.adops.detect.parts import find_period

__all__ = ["DetectorConfig", "SeriesDetector", "find_period", "score_series"]
