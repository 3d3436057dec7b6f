"""Leads: files read and imported (validated, deduplicated per tenant, encrypted), and the
time zone of a lead's area code."""

from __future__ import annotations

from ssmas.campaigns.leads.importer import ImportSummary, PhoneChecker, import_leads
from ssmas.campaigns.leads.reader import ENCODINGS, MAX_FIELD_CHARS, LeadFileError, open_lead_file
from ssmas.campaigns.leads.simulate import simulated_leads_csv
from ssmas.campaigns.leads.timezones import zone_of

__all__ = [
    "ENCODINGS",
    "MAX_FIELD_CHARS",
    "ImportSummary",
    "LeadFileError",
    "PhoneChecker",
    "import_leads",
    "open_lead_file",
    "simulated_leads_csv",
    "zone_of",
]
