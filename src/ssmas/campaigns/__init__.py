"""Campaigns product (part built): conversion forecasts with backtests and calibrated intervals
(``ssmas.campaigns.forecast``) and the ``ssmas campaigns`` commands; lead validation and scoring,
experiments, bandits, ROI and anomaly detection come with issue 17's other items."""
