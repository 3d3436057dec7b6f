"""The reference validation: legacy Mexican prefixes normalised, then ``phonenumbers`` decides.

Expected values come from ``phonenumbers`` itself, called here on the clean national number:
the legacy and decorated forms must give exactly what it says of the number they spell.
"""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from ssmas.campaigns.phone import (
    Lada,
    LineType,
    PhoneCheck,
    Reason,
    check_reference,
    lada_catalogue,
)

NATIONAL = "5512345678"

# Ways people write the same Mexican number, with the legacy prefix each drops.
SPELLINGS = {
    "5512345678": None,
    "55 1234 5678": None,
    "(55) 1234-5678": None,
    "55.1234.5678": None,
    "55/1234/5678": None,
    "\t55 1234 5678\n": None,
    "+52 55 1234 5678": None,
    "+525512345678": None,
    "0052 55 1234 5678": None,
    "525512345678": None,
    "+52 1 55 1234 5678": "1",
    "+52 (1) 55-1234-5678": "1",
    "5215512345678": "1",
    "00 52 1 55 1234 5678": "1",
    "044 55 1234 5678": "044",
    "045 (55) 1234 5678": "045",
    "01 55 1234 5678": "01",
    "1 55 1234 5678": "1",
    "55\u00a01234\u20035678": None,  # Unicode spaces are whitespace too
}


def phonenumbers_e164(national: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(national, "MX"), PhoneNumberFormat.E164)


@pytest.mark.parametrize(("raw", "legacy"), SPELLINGS.items())
def test_every_spelling_is_the_number_phonenumbers_reads_from_the_clean_digits(
    raw: str, legacy: str | None
) -> None:
    check = check_reference(raw)
    assert check == PhoneCheck(
        valid=True,
        e164=phonenumbers_e164(NATIONAL),
        national=NATIONAL,
        legacy_prefix=legacy,
        line_type=LineType.FIXED_LINE_OR_MOBILE,
        lada="55",
        city="Ciudad de México",
        state="Ciudad de México",
        state_code="09",
    )
    assert check.e164 == "+525512345678"


def test_phonenumbers_alone_does_not_read_the_legacy_forms() -> None:
    # Why the normalisation exists: since the 2019 plan phonenumbers keeps these digits.
    for raw in ("0445512345678", "015512345678", "+5215512345678"):
        assert not phonenumbers.is_valid_number(phonenumbers.parse(raw, "MX"))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", Reason.EMPTY),
        (" - ( ) . / ", Reason.EMPTY),
        ("55 1234 567a", Reason.NON_DIGIT),
        ("tel: 5512345678", Reason.NON_DIGIT),
        ("55+12345678", Reason.NON_DIGIT),
        ("++525512345678", Reason.NON_DIGIT),
        ("+", Reason.NON_DIGIT),
        ("٥٥١٢٣٤٥٦٧٨", Reason.NON_DIGIT),  # Arabic-Indic digits
        ("".join(chr(0xFF10 + int(d)) for d in "5512345678"), Reason.NON_DIGIT),  # full-width
        ("5512345678 ext 12", Reason.NON_DIGIT),
        ("551234567", Reason.TOO_SHORT),
        ("12345678", Reason.TOO_SHORT),
        ("5", Reason.TOO_SHORT),
        ("+52", Reason.TOO_SHORT),
        ("+52 55 1234 567", Reason.TOO_SHORT),
        ("00", Reason.TOO_SHORT),
        ("55123456789", Reason.TOO_LONG),
        ("+52 55 1234 56789", Reason.TOO_LONG),
        ("0445512345", Reason.INVALID),  # 044 is a prefix only before 10 digits
        ("044 55 1234 567", Reason.TOO_LONG),
        ("5" * 30, Reason.TOO_LONG),
        ("5" * 65, Reason.TOO_LONG),  # past MAX_INPUT_CHARS: nothing is parsed
        ("+1 212 555 1234", Reason.BAD_COUNTRY),
        ("001 212 555 1234", Reason.BAD_COUNTRY),
        ("+34 612 345 678", Reason.BAD_COUNTRY),
        ("+999 1234 5678", Reason.BAD_COUNTRY),  # no such country code
        ("1234567890", Reason.INVALID),
        ("0123456789", Reason.INVALID),
        ("+52 0123456789", Reason.INVALID),
        ("5212345678", Reason.INVALID),
        ("8001234567", Reason.NON_GEOGRAPHIC),
        ("01 800 123 4567", Reason.NON_GEOGRAPHIC),
        ("9001234567", Reason.NON_GEOGRAPHIC),
        ("3001234567", Reason.NON_GEOGRAPHIC),
        ("5001234567", Reason.NON_GEOGRAPHIC),
        ("2201234567", Reason.UNKNOWN_LADA),
        ("2001234567", Reason.UNKNOWN_LADA),
    ],
)
def test_every_rejection_has_its_reason(raw: str, reason: Reason) -> None:
    check = check_reference(raw)
    assert (check.valid, check.reason) == (False, reason)


def test_rejections_say_as_much_as_is_known() -> None:
    assert check_reference("1234567890") == PhoneCheck(
        valid=False, reason=Reason.INVALID, national="1234567890"
    )
    assert check_reference("01 800 123 4567") == PhoneCheck(
        valid=False,
        reason=Reason.NON_GEOGRAPHIC,
        e164="+528001234567",
        national="8001234567",
        legacy_prefix="01",
        line_type=LineType.TOLL_FREE,
    )
    assert check_reference("2001234567") == PhoneCheck(
        valid=False,
        reason=Reason.UNKNOWN_LADA,
        e164="+522001234567",
        national="2001234567",
        line_type=LineType.FIXED_LINE,  # 200 and 201 are fixed-only for phonenumbers
    )
    assert check_reference("+1 212 555 1234") == PhoneCheck(valid=False, reason=Reason.BAD_COUNTRY)


def test_the_line_type_is_the_one_phonenumbers_gives() -> None:
    names = {
        PhoneNumberType.FIXED_LINE_OR_MOBILE: LineType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.FIXED_LINE: LineType.FIXED_LINE,
        PhoneNumberType.TOLL_FREE: LineType.TOLL_FREE,
        PhoneNumberType.PREMIUM_RATE: LineType.PREMIUM_RATE,
    }
    for national in ("5512345678", "2001234567", "8881234567", "9001234567"):
        expected = names[phonenumbers.number_type(phonenumbers.parse(national, "MX"))]
        assert check_reference(national).line_type == expected


@pytest.mark.parametrize("lada", lada_catalogue(), ids=lambda lada: lada.code)
def test_each_lada_with_valid_and_invalid_subscriber_numbers(lada: Lada) -> None:
    subscriber = "3456789012"[: 10 - len(lada.code)]
    national = lada.code + subscriber
    parsed = phonenumbers.parse(national, "MX")
    check = check_reference(f"044 {national}")
    assert check.valid and phonenumbers.is_valid_number(parsed)
    assert check.e164 == phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    assert (check.lada, check.city, check.state) == (lada.code, lada.city, lada.state)
    assert check_reference(national[:-1]).reason is Reason.TOO_SHORT
    assert check_reference(national + "0").reason is Reason.TOO_LONG
    assert check_reference("+52 " + national[:-1]).reason is Reason.TOO_SHORT
