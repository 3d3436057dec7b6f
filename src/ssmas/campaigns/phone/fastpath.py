"""The fast path: the common shapes of a Mexican number validated by one regex and one lookup,
with the same answer as :func:`~ssmas.campaigns.phone.reference.check_reference`.

Why a lookup is enough: Mexico's numbers all have 10 digits, and every pattern ``phonenumbers``
matches them against (fixed line, mobile, toll-free, ...) has the form ``HEAD\\d{7}``, HEAD
without a top-level ``|``: so a 10-digit number's validity and type depend on its first three
digits only, and so does its area code (2 or 3 digits). :func:`prefix_table` checks that form
in the installed ``phonenumbers`` metadata and asks ``phonenumbers`` itself for the type of each
of the 1,000 prefixes; if a future metadata breaks the form, the table is empty and every number
takes the reference path.

:func:`check_fast` answers the shapes it knows (10 digits behind an optional ``+52``, ``0052``,
``52``, ``+52 1``, ``044``, ``045``, ``01`` or ``1``; digit strings too short or too long, bare
or behind ``+52``; ``+1`` and ten digits; empty and non-digit inputs) and returns None for
anything else, which the caller sends to the reference. Differential and property tests hold
the two paths equal, field by field.
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers import PhoneMetadata

from ssmas.campaigns.phone.check import SUBSCRIBER_LINES, PhoneCheck, Reason, rejected
from ssmas.campaigns.phone.lada import lada_of
from ssmas.campaigns.phone.reference import MAX_INPUT_CHARS, MEXICO, SEPARATORS, line_type_of

__all__ = ["check_fast", "prefix_table"]

# The ASCII characters the reference strips as separators.
_DELETE = {code: None for code in range(128) if SEPARATORS.fullmatch(chr(code)) is not None}
# +52 / 0052 / 52, an optional old mobile 1, or a domestic legacy prefix; then 10 digits.
_SHAPE = re.compile(r"(?:(?:\+|00)?52(1)?|(04[45]|01|1))?([1-9][0-9]{9})")
_MEXICAN_INTERNATIONAL = re.compile(r"(?:\+|00)52([0-9]*)")
_NANP = re.compile(r"(?:\+|00)1[2-9][0-9]{9}")  # +1 and ten digits: the US and Canada
_ALLOWED = frozenset("+0123456789")


def _no_top_level_alternation(head: str) -> bool:
    """Whether ``head`` is a concatenation (no ``|`` outside groups and classes), so that
    ``head + r"\\d{7}"`` matches a 10-digit string exactly when ``head`` matches its first 3."""
    depth, i, in_class = 0, 0, False
    while i < len(head):
        char = head[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return False
        i += 1
    return depth == 0 and not in_class


def _decided_by_three_digits() -> bool:
    """Whether every Mexican pattern of the installed metadata is ``HEAD\\d{7}`` over
    10-digit numbers (the general pattern ``[2-9]\\d{9}`` depends on one digit)."""
    metadata = PhoneMetadata.metadata_for_region("MX")
    general = metadata.general_desc if metadata is not None else None
    if metadata is None or general is None or general.possible_length != (10,):
        return False
    descs = [
        metadata.fixed_line,
        metadata.mobile,
        metadata.toll_free,
        metadata.premium_rate,
        metadata.shared_cost,
        metadata.personal_number,
        metadata.voip,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
    ]
    tail = r"\d{7}"
    for desc in descs:
        pattern = desc.national_number_pattern if desc is not None else None
        if pattern is None:
            continue
        if not pattern.endswith(tail) or not _no_top_level_alternation(pattern[: -len(tail)]):
            return False
    return general.national_number_pattern == r"[2-9]\d{9}"


@cache
def prefix_table() -> dict[str, PhoneCheck]:
    """Every 3-digit prefix's answer, with the number's own fields (e164, national, legacy
    prefix) left empty; empty when the metadata is not decided by three digits."""
    if not _decided_by_three_digits():
        return {}
    table: dict[str, PhoneCheck] = {}
    for prefix in (f"{p:03d}" for p in range(1000)):
        number = phonenumbers.parse("+" + MEXICO + prefix + "0000000")
        if not phonenumbers.is_valid_number(number):
            table[prefix] = rejected(Reason.INVALID)
            continue
        line = line_type_of(phonenumbers.number_type(number))
        lada = lada_of(prefix + "0000000")
        reason = None
        if line not in SUBSCRIBER_LINES:
            reason = Reason.NON_GEOGRAPHIC
        elif lada is None:
            reason = Reason.UNKNOWN_LADA
        if lada is None:
            table[prefix] = PhoneCheck(reason is None, reason, line_type=line)
        else:
            table[prefix] = PhoneCheck(
                reason is None,
                reason,
                line_type=line,
                lada=lada.code,
                city=lada.city,
                state=lada.state,
                state_code=lada.state_code,
            )
    return table


def _malformed(text: str) -> PhoneCheck | None:
    """The rejection of a text (separators gone) no well-formed shape matched, when the
    reference's answer is certain; None otherwise."""
    if not text:
        return rejected(Reason.EMPTY)  # only ASCII separators were deleted
    if not text.isascii():
        return None
    if not _ALLOWED.issuperset(text) or "+" in text[1:]:
        return rejected(Reason.NON_DIGIT)
    international = _MEXICAN_INTERNATIONAL.fullmatch(text)
    if international is not None:
        rest = international[1]
        if len(rest) < 10:
            return rejected(Reason.TOO_SHORT)
        if len(rest) > 11 or (len(rest) == 11 and rest[0] != "1"):
            return rejected(Reason.TOO_LONG)
        return None
    if _NANP.fullmatch(text):
        return rejected(Reason.BAD_COUNTRY)
    if text[0] == "+" or text.startswith("00"):
        return None
    size = len(text)
    if size < 10:
        return rejected(Reason.TOO_SHORT)
    prefixed = (
        (size == 13 and text[:3] in ("044", "045", "521"))
        or (size == 12 and text[:2] in ("01", MEXICO))
        or (size == 11 and text[0] == "1")
    )
    return rejected(Reason.TOO_LONG) if size > 10 and not prefixed else None


def check_fast(raw: str) -> PhoneCheck | None:
    """The answer for a common shape, or None for the reference path to decide."""
    if len(raw) > MAX_INPUT_CHARS:
        return rejected(Reason.TOO_LONG)
    text = raw
    if not raw.isdigit():
        # The usual separators by str.replace (faster than translate); the rest, if any, after.
        text = raw.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
        text = text.replace(".", "")
    match = _SHAPE.fullmatch(text)
    if match is None:
        text = text.translate(_DELETE)
        match = _SHAPE.fullmatch(text)
        if match is None:
            return _malformed(text)
    national = match[3]
    known = prefix_table().get(national[:3])
    if known is None:
        return None
    legacy = match[2] or match[1]
    if known.reason is Reason.INVALID:
        return PhoneCheck(False, Reason.INVALID, national=national, legacy_prefix=legacy)
    return PhoneCheck(
        known.valid,
        known.reason,
        "+" + MEXICO + national,
        national,
        legacy,
        known.line_type,
        known.lada,
        known.city,
        known.state,
        known.state_code,
    )
