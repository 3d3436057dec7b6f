"""Campaigns product (part built): Mexican phone validation at volume (``ssmas.campaigns.phone``),
lead quality with the seed's ensemble on simulated leads (``ssmas.campaigns.quality``),
conversion forecasts with backtests and calibrated intervals (``ssmas.campaigns.forecast``),
driven by the ``ssmas campaigns`` commands, Monte Carlo ROI, tornado and portfolio allocation
(``ssmas.campaigns.roi``), and anomaly detection on validations and campaign metrics published
on the bus (``ssmas.campaigns.anomaly``).

Tenants, leads, segments, sending, experiments and bandits join it as issues 16
and 17 are built.
"""
