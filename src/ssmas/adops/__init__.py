"""Autonomous AdOps (part built): streaming anomaly detectors and their NAB-compatible scoring.

``ssmas.adops.detect`` turns any ``timestamp,value`` series into a per-point anomaly score in
[0, 1]; ``ssmas.adops.nab`` scores such scores the way the Numenta Anomaly Benchmark does.
Event rules, incidents and the agent (issue 14's other items) are still to come.
"""

from __future__ import annotations
