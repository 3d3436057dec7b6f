"""The fast path answers exactly what the ``phonenumbers`` reference answers, field by field.

Differential tests over every LADA code and every 3-digit prefix in every spelling (legacy
prefixes, separators, valid and invalid subscriber numbers), malformed inputs, and hypothesis
properties over generated strings; plus tests that the fast path really answers the common
shapes (so the comparisons are not vacuous) and steps aside when the metadata changes form.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmas.campaigns.phone import (
    PhoneCheck,
    Reason,
    check_fast,
    check_phone,
    check_reference,
    fastpath,
    lada_catalogue,
)

Spelling = Callable[[str], str]

# The shapes a Mexican number arrives in; each is a function of the 10 national digits.
SPELLINGS: dict[str, Spelling] = {
    "plain": lambda n: n,
    "spaced": lambda n: f"{n[:2]} {n[2:6]} {n[6:]}",
    "parenthesised": lambda n: f"({n[:3]}) {n[3:6]}-{n[6:]}",
    "dotted": lambda n: f"{n[:3]}.{n[3:6]}.{n[6:]}",
    "plus52": lambda n: f"+52{n}",
    "plus52 spaced": lambda n: f"+52 {n[:3]} {n[3:6]} {n[6:]}",
    "0052": lambda n: f"0052{n}",
    "bare 52": lambda n: f"52{n}",
    "plus52 1": lambda n: f"+52 1 {n}",
    "bare 521": lambda n: f"521{n}",
    "00 52 1": lambda n: f"00 52 1 {n}",
    "044": lambda n: f"044 {n}",
    "045": lambda n: f"045-{n}",
    "01": lambda n: f"01 ({n[:3]}) {n[3:]}",
    "1": lambda n: f"1{n}",
    "tab and slash": lambda n: f"\t{n[:3]}/{n[3:]}\n",
}
# Damage done to a well-formed spelling.
DAMAGE: dict[str, Spelling] = {
    "one digit short": lambda s: s[:-1],
    "one digit long": lambda s: s + "7",
    "letter": lambda s: s[:4] + "O" + s[5:],
    "extension": lambda s: s + " ext 12",
    "plus inside": lambda s: s[:3] + "+" + s[3:],
    "double plus": lambda s: "+" + s if s.startswith("+") else "++" + s,
    "nbsp": lambda s: s.replace(" ", "\u00a0") or "\u00a0",
    "wrong country": lambda s: "+1" + s.lstrip("+"),
}


def assert_same(raw: str) -> PhoneCheck | None:
    """The fast answer for ``raw`` (None when it steps aside), checked against the reference."""
    fast = check_fast(raw)
    if fast is not None:
        reference = check_reference(raw)
        assert fast == reference, (raw, fast, reference)
    return fast


def subscribers(code: str, rng: random.Random) -> Iterator[str]:
    width = 10 - len(code)
    yield code + "0" * width
    yield code + "9" * width
    yield code + "".join(rng.choice("0123456789") for _ in range(width))


def test_every_lada_in_every_spelling_valid_and_damaged() -> None:
    rng = random.Random(16)
    handled = 0
    for lada in lada_catalogue():
        for national in subscribers(lada.code, rng):
            for spell in SPELLINGS.values():
                written = spell(national)
                fast = assert_same(written)
                assert fast is not None and fast.valid and fast.lada == lada.code, written
                handled += 1
        # Each damage on a few spellings of the random subscriber.
        for damage in DAMAGE.values():
            for spell in rng.sample(list(SPELLINGS.values()), 3):
                assert_same(damage(spell(national)))
    assert handled == 398 * 3 * len(SPELLINGS)


def test_every_three_digit_prefix_in_every_spelling() -> None:
    # Invalid prefixes (0xx, 1xx, unassigned), non-geographic ones (800, 900, 300, 500) and
    # valid prefixes missing from the catalogue (220, 200, ...) all agree too.
    rng = random.Random(52)
    reasons = set()
    for prefix in range(1000):
        national = f"{prefix:03d}" + "".join(rng.choice("0123456789") for _ in range(7))
        for spell in SPELLINGS.values():
            fast = assert_same(spell(national))
            if fast is not None:
                reasons.add(fast.reason)
    assert reasons == {None, Reason.INVALID, Reason.NON_GEOGRAPHIC, Reason.UNKNOWN_LADA}


MALFORMED = [
    "",
    " ",
    "\u00a0",
    "+",
    "00",
    "0",
    "1",
    "52",
    "+52",
    "+521",
    "521",
    "abc",
    "5512345678x",
    "55-12-34-56-78-90",
    "0000000000",
    "0012125551234",
    "001 55 1234 5678",
    "+15512345678",
    "10123456789",
    "1" * 11,
    "0" * 13,
    "0440123456789",
    "520123456789",
    "5210123456789",
    "+520123456789",
    "+5201234567890",
    "5" * 64,
    "5" * 65,
    "+" + "5" * 63,
    "٥٥١٢٣٤٥٦٧٨",
    "\uff15\uff15\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
    "55\u200b12345678",
    "(55)\x1c1234\x1f5678",
    "55 1234 5678;",
    "55 1234 5678 ",
    "+(52) 55 1234 5678",
    "(+52) 55 1234 5678",
    "+ 52 55 1234 5678",
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_inputs(raw: str) -> None:
    assert_same(raw)


@pytest.mark.parametrize("length", range(1, 30))
def test_bare_digit_strings_of_every_length(length: int) -> None:
    rng = random.Random(length)
    for first in "0123456789":
        for _ in range(4):
            assert_same(first + "".join(rng.choice("0123456789") for _ in range(length - 1)))


def test_the_common_shapes_never_reach_the_reference() -> None:
    # So the comparisons above exercise the fast path, not only its fallback.
    for raw in ("5512345678", "+52 1 33 1234 5678", "044 81 1234 5678", "01 (999) 123 4567"):
        assert check_fast(raw) is not None
    malformed = ["", "55 1234 567a", "551234", "55 1234 5678 9", "8001234567", "1234567890"]
    malformed += ["+52 55 1234", "+52 1 55 1234 5678 9", "+1 212 555 1234", "001 212 555 1234"]
    malformed += ["+52 55+1234 5678", "012345", "0 55 1234 5678 12", "0445512345678 1"]
    for raw in malformed:
        assert check_fast(raw) is not None, raw


SEPARATORS = st.sampled_from([" ", "-", ".", "(", ")", "/", "\t", "\u00a0", ""])
PREFIXES = st.sampled_from(
    [
        "",
        "+",
        "+52",
        "+52 1",
        "0052",
        "00521",
        "52",
        "521",
        "044",
        "045",
        "01",
        "1",
        "0",
        "00",
        "+1",
        "001",
        "+34",
        "+5",
        "+ 52",
    ]
)


@st.composite
def phone_like(draw: st.DrawFn) -> str:
    prefix = draw(PREFIXES)
    lada = draw(st.sampled_from([lada.code for lada in lada_catalogue()] + ["800", "220", "12"]))
    digits = draw(st.text("0123456789", min_size=0, max_size=10))
    body = prefix + lada + digits
    cuts = draw(st.lists(st.integers(0, len(body)), max_size=4))
    for cut in sorted(cuts, reverse=True):
        body = body[:cut] + draw(SEPARATORS) + body[cut:]
    return body


@settings(max_examples=1500, deadline=None)
@given(phone_like())
def test_property_phone_like_strings(raw: str) -> None:
    assert_same(raw)


@settings(max_examples=1000, deadline=None)
@given(st.text(st.sampled_from("0123456789+-. ()/\t\u00a0x٣"), max_size=24))
def test_property_strings_of_phone_characters(raw: str) -> None:
    assert_same(raw)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_property_any_text(raw: str) -> None:
    assert_same(raw)


def test_the_prefix_table_is_phonenumbers_answer_at_other_suffixes() -> None:
    table = fastpath.prefix_table()
    assert len(table) == 1000
    for prefix in ("550", "222", "800", "201", "100", "521", "999"):
        for suffix in ("0000000", "5555555", "9999999", "1234567"):
            expected = check_reference(prefix + suffix)
            got = table[prefix]
            assert (got.valid, got.reason, got.line_type, got.lada) == (
                expected.valid,
                expected.reason,
                expected.line_type,
                expected.lada,
            )


@pytest.mark.parametrize(
    ("head", "concatenation"),
    [
        ("900", True),
        ("8(?:00|88)", True),
        ("(?:2(?:0[01]|2\\d)|3[1-5])", True),
        ("(?:[(|]a)", True),
        ("a\\|b", True),
        ("a|b", False),
        ("(?:a)|(?:b)", False),
        ("(?:a", False),
    ],
)
def test_the_metadata_form_check(head: str, concatenation: bool) -> None:
    assert fastpath._no_top_level_alternation(head) is concatenation


def test_a_metadata_of_another_form_sends_everything_to_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fastpath, "_decided_by_three_digits", lambda: False)
    fastpath.prefix_table.cache_clear()
    try:
        assert fastpath.prefix_table() == {}
        assert check_fast("+52 55 1234 5678") is None
        assert check_phone("+52 55 1234 5678") == check_reference("+52 55 1234 5678")
    finally:
        monkeypatch.undo()
        fastpath.prefix_table.cache_clear()
    assert check_fast("+52 55 1234 5678") is not None
