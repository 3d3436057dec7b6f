"""Autonomous AdOps (part built): detectors, NAB scoring, the metric stream and incidents.

``ssmas.adops.detect`` turns any ``timestamp,value`` series into a per-point anomaly score in
[0, 1]; ``ssmas.adops.nab`` scores such scores the way the Numenta Anomaly Benchmark does;
``ssmas.adops.stream`` windows and scores the exchange's metric stream and posted series into
alerts; ``ssmas.adops.incidents`` turns alerts into deduplicated, correlated incidents. Other
products and the event rules hand alerts in through ``ssmas.adops.runtime.ingest_alert``.
Event rules and the agent (issue 14's other items) are still to come.
"""

from __future__ import annotations
