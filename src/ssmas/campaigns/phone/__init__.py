"""Mexican phone validation at volume.

:func:`check_phone` validates one number (legacy prefixes normalised, ``phonenumbers`` as the
reference, line type, LADA city and state, a :class:`Reason` for every rejection);
:class:`BulkValidator` validates batches of up to 10,000 on every core, for the bulk API.
"""

from __future__ import annotations

from ssmas.campaigns.phone.bulk import (
    BulkItem,
    BulkSummary,
    BulkValidation,
    BulkValidator,
    check_many,
    check_phone,
    mark_duplicates,
)
from ssmas.campaigns.phone.check import SUBSCRIBER_LINES, LineType, PhoneCheck, Reason
from ssmas.campaigns.phone.fastpath import check_fast
from ssmas.campaigns.phone.inputs import (
    MAX_BATCH,
    PLATFORMS,
    BulkBatch,
    BulkValidationRequest,
    PhoneInput,
    read_bulk_request,
)
from ssmas.campaigns.phone.lada import STATES, Lada, canonical_state, lada_catalogue, lada_of
from ssmas.campaigns.phone.reference import check_reference

__all__ = [
    "MAX_BATCH",
    "PLATFORMS",
    "STATES",
    "SUBSCRIBER_LINES",
    "BulkBatch",
    "BulkItem",
    "BulkSummary",
    "BulkValidation",
    "BulkValidationRequest",
    "BulkValidator",
    "Lada",
    "LineType",
    "PhoneCheck",
    "PhoneInput",
    "Reason",
    "canonical_state",
    "check_fast",
    "check_many",
    "check_phone",
    "check_reference",
    "lada_catalogue",
    "lada_of",
    "mark_duplicates",
    "read_bulk_request",
]
