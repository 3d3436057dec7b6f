"""Campaigns product (part built): Mexican phone validation at volume (``ssmas.campaigns.phone``)
and conversion forecasts with backtests and calibrated intervals (``ssmas.campaigns.forecast``),
driven by the ``ssmas campaigns`` commands.

Tenants, leads, lead quality, segments, sending, experiments, bandits, ROI and anomaly detection
join it as issues 16 and 17 are built.
"""
