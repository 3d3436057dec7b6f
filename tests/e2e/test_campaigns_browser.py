"""The campaigns pages of issue 17 in Debian's Chromium against the real server: an experiment
fed over the API shows its lift and confidence sequence and refreshes by HTMX; the bandit page
draws the live bandit and the policies' regret; the forecast arrives by polling; the ROI form
simulates, draws its three charts and explains a plan it refuses. No console error (the pages'
CSP holds: the charts are SVG, no inline script)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import numpy as np
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


def _seed(base: str, admin_key: str) -> int:
    """A tenant with an experiment (three waves of units and conversions) and a bandit."""
    with httpx.Client(base_url=base, timeout=30.0) as client:
        made = client.post(
            "/campaigns/tenants",
            json={"id": "browser-mx", "name": "Browser MX", "tier": "growth"},
            headers={"X-API-Key": admin_key},
        )
        assert made.status_code == 201, made.text
        key = {"X-API-Key": made.json()["key"]["api_key"]}
        exp = client.post(
            "/campaigns/experiments",
            json={
                "key": "greeting",
                "name": "Greeting in the browser",
                "variants": [{"name": "control"}, {"name": "short"}],
            },
            headers=key,
        )
        assert exp.status_code == 201, exp.text
        exp_id = int(exp.json()["id"])
        rng = np.random.default_rng(9)
        for wave in range(3):
            units = [f"w{wave}-{i}" for i in range(600)]
            given = client.post(
                f"/campaigns/experiments/{exp_id}/assign", json={"units": units}, headers=key
            ).json()["assignments"]
            rates = {"control": 0.05, "short": 0.08}
            outcomes = [
                {
                    "unit": a["unit"],
                    "metric": "conversion",
                    "value": float(rng.random() < rates[a["variant"]]),
                }
                for a in given
            ]
            answer = client.post(
                f"/campaigns/experiments/{exp_id}/outcomes",
                json={"outcomes": outcomes},
                headers=key,
            )
            assert answer.status_code == 200, answer.text
        bandit = client.post(
            "/campaigns/bandits",
            json={"name": "Send time in the browser", "arms": ["09:00", "13:00", "19:00"]},
            headers=key,
        )
        assert bandit.status_code == 201, bandit.text
        rewards = [{"arm": "19:00", "reward": float(i % 10 == 0)} for i in range(100)]
        rewards += [{"arm": "09:00", "reward": 0.0} for _ in range(40)]
        fed = client.post(
            f"/campaigns/bandits/{bandit.json()['id']}/rewards",
            json={"rewards": rewards},
            headers=key,
        )
        assert fed.status_code == 200, fed.text
    return exp_id


def test_the_optimisation_pages_draw_their_charts_and_refresh(
    page: Page, server: tuple[str, str], tmp_path: Path
) -> None:
    base, key = server
    shots = Path(os.environ.get("SSMAS_TEST_SCREENSHOTS", str(tmp_path)))
    exp_id = _seed(base, key)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, base, key)
    expect(page).to_have_url(f"{base}/dashboard")
    page.locator('nav a[data-group="campaigns"]').click()
    page.get_by_role("link", name="Experiments").first.click()
    expect(page).to_have_url(f"{base}/dashboard/campaigns/experiments")
    expect(page.locator("table.campaigns-table")).to_contain_text("Greeting in the browser")
    page.get_by_role("link", name="Greeting in the browser").click()
    expect(page).to_have_url(f"{base}/dashboard/campaigns/experiments/{exp_id}?tenant=browser-mx")
    chart = page.locator('[data-chart="lift-short"] svg')
    expect(chart).to_be_visible()
    band = chart.locator('[data-series="always-valid confidence sequence"]')
    expect(band).to_have_count(1)
    assert band.bounding_box() is not None and band.bounding_box()["height"] > 5  # type: ignore[index]
    expect(page.locator("#experiment-detail")).to_contain_text("Sample-ratio check")
    with page.expect_response(
        lambda r: r.url.startswith(f"{base}/dashboard/campaigns/experiments/{exp_id}/detail"),
        timeout=9_000,
    ) as answer:
        pass
    assert answer.value.status == 200
    expect(page.locator("#experiment-detail")).to_have_count(1)  # swapped inside, not nested
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "campaigns-experiment.png"), full_page=True)

    page.goto(f"{base}/dashboard/campaigns/bandits")
    expect(page.locator("#bandits-live")).to_contain_text("Send time in the browser")
    expect(page.locator("table.bandit-arms").first).to_contain_text("19:00")
    regret = page.locator('[data-chart="regret"] svg')
    expect(regret).to_be_visible(timeout=60_000)  # the simulator runs on the first visit
    expect(regret.locator('[data-series="Thompson sampling"]')).to_have_count(1)
    page.screenshot(path=str(shots / "campaigns-bandits.png"), full_page=True)

    page.goto(f"{base}/dashboard/campaigns/forecast")
    forecast = page.locator('[data-chart="forecast"] svg')
    expect(forecast).to_be_visible(timeout=120_000)  # computed in the background, polled
    expect(forecast.locator('[data-series="80% interval"]')).to_have_count(1)
    expect(page.locator("#forecast-body")).to_contain_text("backtest MAE")
    page.screenshot(path=str(shots / "campaigns-forecast.png"), full_page=True)

    page.goto(f"{base}/dashboard/campaigns/roi")
    page.fill('input[name="rate"]', "0.02")
    page.get_by_role("button", name="Simulate").click()
    expect(page).to_have_url(re.compile(r".*[?&]rate=0\.02"))
    for name in ("roi-distribution", "tornado", "frontier"):
        expect(page.locator(f'[data-chart="{name}"] svg')).to_be_visible()
    expect(page.locator("body")).to_contain_text("chance of a loss")
    page.screenshot(path=str(shots / "campaigns-roi.png"), full_page=True)
    page.fill('input[name="rate_sd"]', "0.5")
    page.get_by_role("button", name="Simulate").click()
    expect(page.locator("p.error")).to_contain_text("Cannot simulate this plan")
    assert [e for e in errors if "422" not in e] == [], "\n".join(errors)
