"""Campaigns product (part built): tenants with tiers, quotas, keys and invoices
(``ssmas.campaigns.tenancy``, every tenant query through ``ssmas.campaigns.scope``), lead
imports (``ssmas.campaigns.leads``), Mexican phone validation at volume
(``ssmas.campaigns.phone``), segments and campaigns handed to a ``CampaignSender``
(``ssmas.campaigns.audience``, ``ssmas.campaigns.ports``), with their API, commands and pages;
conversion forecasts with backtests and calibrated intervals (``ssmas.campaigns.forecast``),
driven by the ``ssmas campaigns`` commands, Monte Carlo ROI, tornado and portfolio allocation
(``ssmas.campaigns.roi``), and anomaly detection on validations and campaign metrics published
on the bus (``ssmas.campaigns.anomaly``).

Lead quality, sending, experiments and bandits on live campaigns join it as issues 16 and 17
are built.
"""
