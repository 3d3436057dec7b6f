"""Prometheus counters of the campaigns data side (no tenant label: tenants are unbounded;
per-tenant figures are the metered usage)."""

from __future__ import annotations

from ssmas.core import metrics

__all__ = ["IMPORT_ROWS", "QUOTA_REFUSALS", "RECIPIENTS", "VALIDATIONS"]

IMPORT_ROWS = metrics.counter(
    "campaigns",
    "import_rows",
    "Lead file rows imported, by outcome (created, updated, duplicate, rejected).",
    ["outcome"],
)
VALIDATIONS = metrics.counter(
    "campaigns", "validations", "Numbers validated by the bulk API, by tier.", ["tier"]
)
QUOTA_REFUSALS = metrics.counter(
    "campaigns",
    "quota_refusals",
    "Requests refused for a used-up quota (messages, validations, experiments).",
    ["quota"],
)
RECIPIENTS = metrics.counter(
    "campaigns", "recipients", "Recipients handed to the sender at launch, by channel.", ["channel"]
)
