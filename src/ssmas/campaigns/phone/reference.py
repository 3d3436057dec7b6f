"""The reference validation of a Mexican phone number: legacy prefixes normalised step by step,
then ``phonenumbers`` (region MX) decides length, country, validity, line type and E.164.

This is the definition the fast path (:mod:`ssmas.campaigns.phone.fastpath`) is held to, field
by field, and the path it falls back to. Its steps, in order:

1. A raw input longer than :data:`MAX_INPUT_CHARS` is TOO_LONG (nothing is parsed from it).
2. Separators go: whitespace, ``-``, ``.``, ``(``, ``)``, ``/``. Nothing left is EMPTY.
3. What is left must be ASCII digits, optionally after one leading ``+``; else NON_DIGIT.
4. International forms: ``+CC…``, ``00CC…`` (Mexico's international prefix), and a bare
   ``52`` followed by 10 digits, or by ``1`` and 10 digits. A country other than 52 is
   BAD_COUNTRY. After ``52``, the old mobile ``1`` before 10 digits is dropped.
5. Domestic legacy prefixes, by total length: ``044``/``045`` + 10 digits (mobile, local and
   long distance), ``01`` + 10 (national long distance), ``1`` + 10 (the old mobile ``1``).
6. ``phonenumbers`` parses ``+52`` and the national digits: its possible-length verdict gives
   TOO_SHORT / TOO_LONG, ``is_valid_number`` gives INVALID, ``number_type`` the line type
   (non-subscriber types are NON_GEOGRAPHIC), ``format_number`` the E.164 form.
7. The area code comes from the LADA catalogue, by a scan for the code the number starts with
   (UNKNOWN_LADA when none does).
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers import ValidationResult as Possible

from ssmas.campaigns.phone.check import SUBSCRIBER_LINES, LineType, PhoneCheck, Reason, rejected
from ssmas.campaigns.phone.lada import lada_catalogue

__all__ = ["MAX_INPUT_CHARS", "SEPARATORS", "check_reference", "line_type_of"]

MAX_INPUT_CHARS = 64
MEXICO = "52"

SEPARATORS = re.compile(r"[\s\-.()/]")
_DIGITS = re.compile(r"[0-9]+")

_LINE_TYPES: dict[int, LineType] = {
    PhoneNumberType.FIXED_LINE: LineType.FIXED_LINE,
    PhoneNumberType.MOBILE: LineType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: LineType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.TOLL_FREE: LineType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: LineType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST: LineType.SHARED_COST,
    PhoneNumberType.VOIP: LineType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER: LineType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER: LineType.PAGER,
    PhoneNumberType.UAN: LineType.UAN,
    PhoneNumberType.VOICEMAIL: LineType.VOICEMAIL,
}

# phonenumbers' possible-length verdicts: Mexico has one length (10) and local-only 7 and 8,
# so every verdict short of possible means too few digits, except TOO_LONG.
_LENGTH_REASONS = {
    Possible.TOO_SHORT: Reason.TOO_SHORT,
    Possible.IS_POSSIBLE_LOCAL_ONLY: Reason.TOO_SHORT,
    Possible.INVALID_LENGTH: Reason.TOO_SHORT,
    Possible.TOO_LONG: Reason.TOO_LONG,
}

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: Reason.BAD_COUNTRY,
    NumberParseException.TOO_SHORT_NSN: Reason.TOO_SHORT,
    NumberParseException.TOO_SHORT_AFTER_IDD: Reason.TOO_SHORT,
    NumberParseException.TOO_LONG: Reason.TOO_LONG,
    NumberParseException.NOT_A_NUMBER: Reason.TOO_SHORT,  # the digits were checked: too few
}


def line_type_of(number_type: int) -> LineType | None:
    """The :class:`LineType` of a ``phonenumbers.PhoneNumberType`` (None for UNKNOWN)."""
    return _LINE_TYPES.get(number_type)


def _international(digits: str, plus: bool) -> str | None:
    """The digits after the international prefix, or None for a domestic number."""
    if plus:
        return digits
    if digits.startswith("00"):
        return digits[2:]
    bare_mexican = (len(digits) == 12 and digits.startswith(MEXICO)) or (
        len(digits) == 13 and digits.startswith(MEXICO + "1")
    )
    return digits if bare_mexican else None


def _domestic_legacy(digits: str) -> tuple[str, str | None]:
    """The national digits and the legacy prefix dropped from a domestic number."""
    for prefix in ("044", "045", "01", "1"):
        if len(digits) == len(prefix) + 10 and digits.startswith(prefix):
            return digits[len(prefix) :], prefix
    return digits, None


def _country_of(international: str) -> int | Reason:
    """The country code ``phonenumbers`` reads at the start of international digits."""
    try:
        return phonenumbers.parse("+" + international).country_code or 0
    except NumberParseException as error:
        return _PARSE_REASONS[error.error_type]


def _national(raw: str) -> tuple[str, str | None] | Reason:
    """Steps 1-5: the national digits and the legacy prefix dropped, or why there are none."""
    if len(raw) > MAX_INPUT_CHARS:
        return Reason.TOO_LONG
    text = SEPARATORS.sub("", raw)
    if not text:
        return Reason.EMPTY
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not _DIGITS.fullmatch(digits):
        return Reason.NON_DIGIT
    international = _international(digits, plus)
    if international is None:
        return _domestic_legacy(digits)
    country = _country_of(international)
    if isinstance(country, Reason):
        return country
    if country != int(MEXICO):
        return Reason.BAD_COUNTRY
    rest = international[len(MEXICO) :]
    if len(rest) == 11 and rest.startswith("1"):
        return rest[1:], "1"
    return rest, None


def check_reference(raw: str) -> PhoneCheck:
    """Validate one number the reference way (see the module's steps)."""
    found = _national(raw)
    if isinstance(found, Reason):
        return rejected(found)
    national, legacy = found
    try:
        number = phonenumbers.parse("+" + MEXICO + national)
    except NumberParseException as error:
        return rejected(_PARSE_REASONS[error.error_type])
    length = phonenumbers.is_possible_number_with_reason(number)
    if length != Possible.IS_POSSIBLE:
        return rejected(_LENGTH_REASONS[length])
    if not phonenumbers.is_valid_number(number):
        return PhoneCheck(False, Reason.INVALID, national=national, legacy_prefix=legacy)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    line = line_type_of(phonenumbers.number_type(number))
    matches = [lada for lada in lada_catalogue() if national.startswith(lada.code)]
    reason = None
    if line not in SUBSCRIBER_LINES:
        reason = Reason.NON_GEOGRAPHIC
    elif not matches:
        reason = Reason.UNKNOWN_LADA
    if not matches:
        return PhoneCheck(reason is None, reason, e164, national, legacy, line)
    (lada,) = matches
    return PhoneCheck(
        reason is None,
        reason,
        e164,
        national,
        legacy,
        line,
        lada.code,
        lada.city,
        lada.state,
        lada.state_code,
    )
