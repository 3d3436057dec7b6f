"""Campaigns product (part built): Mexican phone validation at volume (``ssmas.campaigns.phone``).

Tenants, leads, lead quality, segments, sending and forecasting join it as issue 16 and its
follow-up are built.
"""
