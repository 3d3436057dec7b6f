"""Pure pieces of the campaigns data side: header folding, row parsing, time zones, template
variables, segment conditions and tier quotas."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ssmas.campaigns.audience import Condition, template_variables
from ssmas.campaigns.audience.templates import fill
from ssmas.campaigns.errors import InvalidInput
from ssmas.campaigns.leads.importer import ParsedRow, parse_row
from ssmas.campaigns.leads.reader import column_name
from ssmas.campaigns.leads.timezones import zone_of
from ssmas.campaigns.phone import STATES
from ssmas.campaigns.tenancy import TIERS, tier_of


def test_headers_fold_case_accents_spaces_and_bom() -> None:
    assert column_name("\ufeffTeléfono ") == "telefono"
    assert column_name("Número de Celular") == "numero_de_celular"
    assert column_name("Apple-ID") == "apple_id"


def test_rows_parse_flags_quality_and_attributes() -> None:
    row = parse_row(
        2,
        {
            "phone": "55 1234 5678",
            "whatsapp": "Sí",
            "apple": "",
            "quality": "71.5",
            "nombre": "Ana",
        },
        "phone",
    )
    assert isinstance(row, ParsedRow)
    assert row.flags["whatsapp"] is True and row.flags["apple"] is None
    assert row.quality == 71.5 and row.attributes == {"nombre": "Ana"}
    assert parse_row(3, {"phone": "1", "google": "maybe"}, "phone") == {
        "row": 3,
        "reason": "bad_flag",
        "column": "google",
    }
    assert parse_row(4, {"phone": "1", "calidad": "-3"}, "phone")["reason"] == "bad_quality"  # type: ignore[index]


def test_every_state_has_a_real_zone() -> None:
    from zoneinfo import ZoneInfo

    for code in STATES:
        ZoneInfo(zone_of(code))
    assert zone_of("02") == "America/Tijuana"
    assert zone_of("26") == "America/Hermosillo"
    assert zone_of("23") == "America/Cancun"
    assert zone_of(None) == zone_of("09") == "America/Mexico_City"


def test_template_variables_and_refusals() -> None:
    assert template_variables("Hola {nombre}, {city}: {nombre}") == ["nombre", "city"]
    assert template_variables("Sin variables {{ni llaves}}") == []
    assert fill("Hola {nombre}", {"nombre": "Ana"}) == "Hola Ana"
    for bad in ("", "Hola {", "Hola }", "{0}", "{}", "{a.b}", "{a[0]}", "{a:>5}", "{a!r}"):
        with pytest.raises(InvalidInput):
            template_variables(bad)
    with pytest.raises(InvalidInput):
        template_variables("x" * 1_601)


def test_conditions_check_their_values() -> None:
    Condition(field="lada", op="in", value=["55", "56"])
    Condition(field="quality", op="known")
    for field, op, value in [
        ("lada", "in", "55"),
        ("quality", "known", 3),
        ("state", "gt", "Jalisco"),
        ("apple", "eq", "yes"),
        ("city", "eq", ""),
        ("quality", "lt", True),
    ]:
        with pytest.raises(ValueError):
            Condition(field=field, op=op, value=value)  # type: ignore[arg-type]


def test_tiers_grow_and_price_in_decimal() -> None:
    starter, growth, enterprise = (TIERS[n] for n in ("starter", "growth", "enterprise"))
    for a, b in ((starter, growth), (growth, enterprise)):
        assert a.quotas.messages_per_day < b.quotas.messages_per_day
        assert a.quotas.validations_per_minute < b.quotas.validations_per_minute
        assert a.monthly_fee < b.monthly_fee
    assert all(isinstance(p, Decimal) for t in TIERS.values() for p in t.unit_prices.values())
    with pytest.raises(ValueError, match="known"):
        tier_of("gold")
