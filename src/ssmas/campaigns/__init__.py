"""Campaigns product (part built): tenants with tiers, quotas, keys and invoices
(``ssmas.campaigns.tenancy``, every tenant query through ``ssmas.campaigns.scope``), lead
imports (``ssmas.campaigns.leads``), Mexican phone validation at volume
(``ssmas.campaigns.phone``), lead quality with the seed's ensemble on simulated leads
(``ssmas.campaigns.quality``), segments and campaigns handed to a ``CampaignSender``
(``ssmas.campaigns.audience``, ``ssmas.campaigns.ports``) and sent through the send ledger
(``ssmas.campaigns.sending``), with their API, commands and pages;
conversion forecasts with backtests and calibrated intervals (``ssmas.campaigns.forecast``),
driven by the ``ssmas campaigns`` commands, Monte Carlo ROI, tornado and portfolio allocation
(``ssmas.campaigns.roi``), and anomaly detection on validations and campaign metrics published
on the bus (``ssmas.campaigns.anomaly``).

Experiments and bandits on live campaigns join it as issue 17 is built.
"""
