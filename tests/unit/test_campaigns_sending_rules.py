"""Pure rules of campaign sending: opt-out keywords, phones, templates, quiet hours, best hour."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ssmas.campaigns.sending.ledger import TemplateError, idem_key, render
from ssmas.campaigns.sending.optout import normalise_phone, opt_out_keyword
from ssmas.campaigns.sending.schedule import QuietHours, best_hour, next_allowed, send_time
from ssmas.core.security import sign_twilio, verify_twilio
from ssmas.settings import Settings

MX = "America/Mexico_City"  # UTC-6, no DST since 2022


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("  Baja ", "BAJA"),
        ("BAJA por favor", "BAJA"),
        ("alto!", "ALTO"),
        ("Cancelár", "CANCELAR"),
        ("CANCELAR.", "CANCELAR"),
        ("¡Alto ya!", "ALTO"),
    ],
)
def test_opt_out_keywords_ignore_case_accents_and_punctuation(text: str, keyword: str) -> None:
    assert opt_out_keyword(text) == keyword


@pytest.mark.parametrize("text", ["", "hola", "no quiero que paren", "stopped", "bajar precio"])
def test_other_messages_do_not_opt_out(text: str) -> None:
    assert opt_out_keyword(text) is None


def test_whatsapp_and_e164_forms_of_a_mexican_mobile_are_one_phone() -> None:
    assert normalise_phone("5215512345678") == "+525512345678"
    assert normalise_phone("+52 55 1234 5678") == "+525512345678"


def test_render_fills_variables_and_names_a_missing_one() -> None:
    assert render("Hola {nombre}", {"nombre": "Ana"}) == "Hola Ana"
    with pytest.raises(TemplateError, match="ciudad"):
        render("Hola {nombre} de {ciudad}", {"nombre": "Ana"})
    assert idem_key(1, 2, 3) == "t1-c2-l3"


def test_quiet_hours_are_local_to_the_recipient() -> None:
    quiet = QuietHours(21, 9)
    at = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 22:00 in Mexico City, 05:00 in Madrid
    assert next_allowed(at, MX, quiet) == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert next_allowed(at, "Europe/Madrid", quiet) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    noon = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    assert next_allowed(noon, MX, quiet) == noon
    assert not QuietHours(0, 0).quiet(3)
    assert QuietHours(13, 15).quiet(14) and not QuietHours(13, 15).quiet(15)


def test_unknown_zone_falls_back_to_mexico_city() -> None:
    at = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    assert next_allowed(at, "Mars/Olympus", QuietHours()) == next_allowed(at, MX, QuietHours())


def test_best_hour_is_the_most_frequent_conversion_hour_and_send_time_honours_it() -> None:
    history = [datetime(2026, 11, d, 16 + (d % 2) * 0, 30, tzinfo=UTC) for d in (1, 2, 3)]
    history.append(datetime(2026, 11, 4, 20, 0, tzinfo=UTC))
    assert best_hour(history, MX) == 10
    assert best_hour([], MX) is None
    morning = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # 08:00 local, quiet until 09:00
    assert send_time(morning, MX, None, QuietHours()) == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    assert send_time(morning, MX, 10, QuietHours()) == datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
    late = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)  # 14:00 local: 10:00 is tomorrow
    assert send_time(late, MX, 10, QuietHours()) == datetime(2026, 12, 8, 16, 0, tzinfo=UTC)
    assert send_time(late, MX, 23, QuietHours()) == datetime(2026, 12, 8, 15, 0, tzinfo=UTC)


def test_twilio_signature_matches_the_documented_vector() -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    signature = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert sign_twilio("12345", url, params) == signature
    assert verify_twilio("12345", url, params, signature)
    assert not verify_twilio("12345", url, {**params, "Digits": "1235"}, signature)
    assert not verify_twilio("12345", url, params, None)


PROD = {
    "profile": "prod",
    "secret_key": "kV3q-9xLmT2pRw7ZsN4bYc8HdJ0fGu6E",
    "pii_key": "q3Ll1ZJd1kYgqJH2d3mR5nF2b7c8K9sT0uVwXyZaBcE=",
    "whatsapp": {
        "app_secret": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "verify_token": "verify-8c1d7e-4b2a-9f31-c0de-5e6f7a8b9c0d",
        "access_token": "EAAG-real-token",
    },
}


def test_prod_refuses_the_dev_sms_token_with_a_real_provider_and_never_prints_it() -> None:
    real = {"provider_url": "https://api.twilio.com", "auth_token": "dev-sms-auth-token"}
    with pytest.raises(ValueError, match="SSMAS_CAMPAIGNS_AUTH_TOKEN") as caught:
        Settings(**PROD, campaigns=real)  # type: ignore[arg-type]
    assert "dev-sms-auth-token" not in str(caught.value)
    token = {**real, "auth_token": "9f8e7d6c5b4a39281706f5e4d3c2b1a0"}
    assert Settings(**PROD, campaigns=token).campaigns.auth_token == token["auth_token"]  # type: ignore[arg-type]
    assert Settings(**PROD).campaigns.provider_url.startswith("http://127.0.0.1")  # type: ignore[arg-type]
