"""What validating one phone number answers: :class:`PhoneCheck`, its :class:`Reason` for a
rejection and its :class:`LineType`.

Both validation paths (the ``phonenumbers`` reference and the fast path) build these and must
build equal ones for every input; the struct is a ``msgspec`` struct so a batch crosses process
boundaries and is encoded to JSON without a per-field Python loop.
"""

from __future__ import annotations

from enum import StrEnum

from msgspec import Struct

__all__ = ["SUBSCRIBER_LINES", "LineType", "PhoneCheck", "Reason", "rejected"]


class Reason(StrEnum):
    """Why a number was rejected, in the order the checks run."""

    EMPTY = "empty"  # nothing but separators
    NON_DIGIT = "non_digit"  # letters, symbols, a '+' not at the start, non-ASCII digits
    TOO_SHORT = "too_short"  # fewer than the 10 national digits (after legacy prefixes)
    TOO_LONG = "too_long"  # more than 10 national digits, or a raw input past MAX_INPUT_CHARS
    BAD_COUNTRY = "bad_country"  # an international number that is not +52
    INVALID = "invalid"  # 10 digits that phonenumbers does not call a valid Mexican number
    NON_GEOGRAPHIC = "non_geographic"  # valid, but toll-free, premium, shared-cost or personal
    UNKNOWN_LADA = "unknown_lada"  # valid, but its area code is not in the LADA catalogue


class LineType(StrEnum):
    """``phonenumbers.PhoneNumberType`` by name; Mexico mostly answers FIXED_LINE_OR_MOBILE
    (its fixed and mobile patterns coincide since the 2019 ten-digit plan)."""

    FIXED_LINE = "fixed_line"
    MOBILE = "mobile"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    VOIP = "voip"
    PERSONAL_NUMBER = "personal_number"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"


# Lines a person answers (and an SMS can reach); the other valid types are NON_GEOGRAPHIC.
SUBSCRIBER_LINES = frozenset({LineType.FIXED_LINE, LineType.MOBILE, LineType.FIXED_LINE_OR_MOBILE})


class PhoneCheck(Struct, frozen=True, gc=False):
    """One number's validation.

    ``valid`` is true exactly when ``reason`` is None. ``national`` (the 10 digits) and
    ``legacy_prefix`` (the obsolete ``044``/``045``/``01``/``1`` that was dropped) are set once
    the input reduced to 10 digits; ``e164`` and ``line_type`` once ``phonenumbers`` calls it
    valid (so a NON_GEOGRAPHIC or UNKNOWN_LADA rejection still says what the number is); the
    LADA fields once its area code is in the catalogue.
    """

    valid: bool
    reason: Reason | None = None
    e164: str | None = None
    national: str | None = None
    legacy_prefix: str | None = None
    line_type: LineType | None = None
    lada: str | None = None
    city: str | None = None
    state: str | None = None
    state_code: str | None = None


def rejected(reason: Reason) -> PhoneCheck:
    """A rejection that got no further than ``reason``: no digits worth reporting."""
    return _REJECTED[reason]


_REJECTED = {reason: PhoneCheck(valid=False, reason=reason) for reason in Reason}
