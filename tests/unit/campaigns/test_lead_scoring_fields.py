"""``lead_fields``: a stored lead mapped onto the model's raw fields, with the documented
defaults for what it lacks, and a matrix the models accept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ssmas.campaigns.leads.scoring import DEFAULT_LADA, HISTORY_DEFAULTS, lead_fields
from ssmas.campaigns.quality.features import LEAD_FIELDS, N_FEATURES, lead_matrix
from ssmas.campaigns.tables import Lead
from ssmas.core.security.pii import PiiCipher

NOW = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)


def _lead(**fields: object) -> Lead:
    base: dict[str, object] = {
        "id": 1,
        "line_type": "fixed_line_or_mobile",
        "lada": "55",
        "time_zone": "America/Mexico_City",
        "whatsapp": True,
        "instagram": None,
        "facebook": False,
        "google": None,
        "apple": True,
        "attribute_names": [],
        "attributes_enc": None,
        "created_at": NOW - timedelta(days=40),
        "updated_at": NOW - timedelta(days=3, hours=1),
    }
    base.update(fields)
    return Lead(**base)


def test_a_bare_lead_gets_the_documented_defaults() -> None:
    bare = _lead(line_type="toll_free", lada=None)
    frame = lead_fields([bare], now=NOW)
    assert list(frame.columns) == list(LEAD_FIELDS)
    row = frame.iloc[0].to_dict()
    assert row["phone_valid"] is True or row["phone_valid"] == 1
    assert row["line_type"] == "unknown" and row["lada"] == DEFAULT_LADA
    flags = [row[f"{p}_active"] for p in ("whatsapp", "instagram", "facebook", "google", "apple")]
    assert flags == [True, False, False, False, True]
    for name, value in HISTORY_DEFAULTS.items():
        assert row[name] == value
    assert row["lead_age_days"] == 40 and row["days_since_last_validation"] == 3
    # 17:00 UTC on Thursday 3 December is 11:00 in Mexico City (UTC-6)
    assert row["validated_hour"] == 11 and row["validated_weekday"] == 3
    assert lead_matrix(frame).shape == (1, N_FEATURES)


def test_history_columns_are_read_and_bad_values_fall_back() -> None:
    cipher = PiiCipher.from_secret("a test secret of the lead-scoring fields")
    attributes = {
        "source": " Referral ",
        "lead_age_days": "900",
        "messages_opened_30d": "-4",
        "avg_response_time_h": "nan",
        "links_clicked_30d": "3",
        "nombre": "Ana",
    }
    lead = _lead(
        attribute_names=sorted(attributes), attributes_enc=cipher.encrypt(json.dumps(attributes))
    )
    row = lead_fields([lead], cipher=cipher, now=NOW).iloc[0]
    assert row["source"] == "referral" and row["lead_age_days"] == 900
    assert row["links_clicked_30d"] == 3
    assert row["messages_opened_30d"] == 0 and row["avg_response_time_h"] == 4.0
    # Without the cipher the encrypted columns are not read: defaults.
    assert lead_fields([lead], now=NOW).iloc[0]["source"] == "purchased_list"
