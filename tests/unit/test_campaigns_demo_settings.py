"""The settings ``ssmas demo`` gives the campaigns scenario: quiet hours off unless set, receipts
back to the bound address, the fake SMS provider off the dashboard's port."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlparse

from ssmas.campaigns.sending.schedule import QuietHours, next_allowed
from ssmas.demo import campaigns_for_demo
from ssmas.settings import CampaignsSettings, Settings

MIDNIGHT_MX = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # 00:00 in Mexico City


def _quiet(section: CampaignsSettings) -> QuietHours:
    return QuietHours(section.quiet_start_hour, section.quiet_end_hour)


def test_demo_turns_quiet_hours_off_and_sends_receipts_to_the_bound_address() -> None:
    base = Settings(profile="test")
    demo = campaigns_for_demo(base, "0.0.0.0", 8123).campaigns
    assert demo.public_url == "http://127.0.0.1:8123"
    # Midnight in Mexico: quiet by default, not in the demo.
    assert next_allowed(MIDNIGHT_MX, "America/Mexico_City", _quiet(base.campaigns)) > MIDNIGHT_MX
    assert next_allowed(MIDNIGHT_MX, "America/Mexico_City", _quiet(demo)) == MIDNIGHT_MX
    assert base.campaigns.quiet_start_hour == 21  # a copy changed, not the settings given


def test_demo_keeps_what_was_set_and_moves_a_clashing_provider() -> None:
    given = CampaignsSettings(
        quiet_start_hour=22,
        public_url="https://sms.example.com",
        provider_url="http://127.0.0.1:8000",
    )
    demo = campaigns_for_demo(Settings(profile="test", campaigns=given), "127.0.0.1", 8000)
    section = demo.campaigns
    assert (section.quiet_start_hour, section.quiet_end_hour) == (22, 9)
    assert section.public_url == "https://sms.example.com"
    assert urlparse(section.provider_url).port not in (None, 8000)
