"""The Ops page in Debian's Chromium: health and alerts render, refresh by HTMX, break no policy."""

from __future__ import annotations

import pytest

from tests.e2e.test_web_browser import CHROMIUM, browser, page, server, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed at /usr/bin/chromium (run `make system-deps`)",
    ),
]
__all__ = ["browser", "page", "server"]  # fixtures shared with the dashboard's browser tests

if CHROMIUM.exists():
    from playwright.sync_api import Page, expect


def test_the_ops_page_shows_health_and_refreshes_itself(
    page: Page, server: tuple[str, str]
) -> None:
    base, key = server
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, base, key)
    expect(page).to_have_url(f"{base}/dashboard")
    page.get_by_role("navigation").get_by_role("link", name="Ops", exact=True).click()
    page.get_by_role("link", name="Health & alerts").first.click()
    expect(page).to_have_url(f"{base}/dashboard/ops/health")
    panel = page.locator("#ops-health")
    expect(panel).to_have_attribute("data-ready", "true")
    expect(panel).to_have_attribute("data-source", "platform")
    expect(page.locator("#alert-table")).to_contain_text("No alert is firing.")
    expect(page.locator('[data-check="db"]')).to_contain_text("ok")
    with page.expect_response(f"{base}/dashboard/ops/health/live", timeout=9_000) as answer:
        pass
    assert answer.value.status == 200
    expect(page.locator("#ops-health")).to_have_count(1)  # swapped inside, not nested
    assert errors == [], errors
