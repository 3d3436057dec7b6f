"""The issue-17 campaigns pages over HTTP: an experiment's lift with its confidence sequence
over time, live bandits with regret and the policies compared, the forecast with intervals and
backtest, ROI's distribution, tornado and frontier; tenants see only their own; bad ROI input
is refused with a reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app, find_product
from ssmas.campaigns import web_optimise
from ssmas.campaigns.live import (
    MetricSpec,
    OutcomeIn,
    assign_units,
    create_bandit,
    create_experiment,
    record_outcomes,
    record_rewards,
)
from ssmas.campaigns.runtime import use_sender
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tenancy import get_tenant
from ssmas.core.platform import Platform
from ssmas.core.security import create_api_key
from tests.integration.campaigns_support import MemorySender, campaigns_platform

BASE = "/dashboard/campaigns"


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Platform]]:
    monkeypatch.setattr(web_optimise, "SIM_HORIZON", 300)  # the policies' comparison, smaller
    web_optimise.simulated_regret.cache_clear()
    with campaigns_platform(tmp_path) as platform:
        app = create_app(platform, products=[find_product("web"), find_product("campaigns")])
        with TestClient(app) as client:
            use_sender(platform, MemorySender())
            yield client, platform
    web_optimise.simulated_regret.cache_clear()


def _tenant_key(client: TestClient, platform: Platform, slug: str) -> str:
    with platform.uow() as uow:
        admin, _ = create_api_key(uow.session, "operator", ["campaigns:admin"])
        uow.commit()
    made = client.post(
        "/campaigns/tenants", json={"id": slug, "name": slug}, headers={"X-API-Key": admin}
    )
    assert made.status_code == 201
    return str(made.json()["key"]["api_key"])


def _sign_in(client: TestClient, key: str) -> None:
    client.cookies.clear()
    answer = client.post("/login", data={"api_key": key}, follow_redirects=False)
    assert answer.status_code == 303, answer.text


def _run_experiment(platform: Platform, slug: str) -> int:
    """An experiment fed over several looks (units and conversions in three waves)."""
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    rng = np.random.default_rng(5)
    with platform.uow() as uow:
        tenant = get_tenant(uow.session, slug)
        scope = TenantScope(uow.session, tenant.id)
        exp = create_experiment(
            scope,
            tenant,
            key="greeting",
            name="Greeting-Test",
            variants=[("control", 1), ("emoji", 1)],
            metric=MetricSpec("conversion"),
        )
        for wave in range(3):
            now = start + timedelta(hours=wave)
            units = [f"w{wave}-{i}" for i in range(800)]
            given = assign_units(scope, exp["id"], units, now=now)
            rate = {"control": 0.05, "emoji": 0.09}
            record_outcomes(
                scope,
                exp["id"],
                [
                    OutcomeIn(a["unit"], "conversion", float(rng.random() < rate[a["variant"]]))
                    for a in given
                ],
                now=now + timedelta(minutes=30),
            )
        bandit = create_bandit(
            scope, name="Send-Time", arms=["09:00", "19:00"], true_rates=[0.02, 0.05]
        )
        for _ in range(5):
            record_rewards(scope, bandit["id"], [("09:00", 0.0), ("19:00", 1.0)])
        uow.commit()
    return int(exp["id"])


def test_the_pages_draw_the_experiment_bandits_forecast_and_roi(
    site: tuple[TestClient, Platform],
) -> None:
    client, platform = site
    alpha = _tenant_key(client, platform, "alpha")
    bravo = _tenant_key(client, platform, "bravo")
    exp_id = _run_experiment(platform, "alpha")
    for page in ("experiments", "bandits", "forecast", "roi", f"experiments/{exp_id}"):
        assert client.get(f"{BASE}/{page}", follow_redirects=False).status_code in (302, 303, 307)

    _sign_in(client, alpha)
    listing = client.get(f"{BASE}/experiments")
    assert listing.status_code == 200 and "Greeting-Test" in listing.text
    assert (
        "chance to win" in listing.text and 'href="/dashboard/campaigns/experiments' in listing.text
    )
    detail = client.get(f"{BASE}/experiments/{exp_id}")
    assert detail.status_code == 200
    page = detail.text
    assert 'data-series="always-valid confidence sequence"' in page
    assert 'data-series="lift"' in page and 'data-series="reference"' in page
    band = re.search(r'data-series="always-valid confidence sequence"[^>]*points="([^"]+)"', page)
    assert band is not None and len(band.group(1).split()) >= 6  # a band over several looks
    assert 'hx-trigger="every 5s"' in page and "Sample-ratio check" in page
    fragment = client.get(f"{BASE}/experiments/{exp_id}/detail")
    assert fragment.status_code == 200 and "always-valid" in fragment.text
    assert client.get(f"{BASE}/experiments/999999").status_code == 404

    bandits = client.get(f"{BASE}/bandits")
    assert bandits.status_code == 200
    text = bandits.text
    assert "Send-Time" in text and "chance best" in text
    assert 'data-series="cumulative regret (expected conversions lost)"' in text
    assert 'hx-get="/dashboard/campaigns/bandits/simulated"' in text
    simulated = client.get(f"{BASE}/bandits/simulated").text
    for policy in ("Thompson sampling", "UCB1", "epsilon-greedy (0.1)", "uniform", "Q-learning"):
        assert f'data-series="{policy}' in simulated
    assert "Send-Time" in client.get(f"{BASE}/bandits/live").text

    first = client.get(f"{BASE}/forecast")
    assert first.status_code == 200
    context = web_optimise.forecast_context(platform, 1, wait=True)
    assert context.get("simulated") is True and "error" not in context
    body = client.get(f"{BASE}/forecast/body")
    assert body.status_code == 286  # done: htmx stops polling
    assert 'data-series="80% interval"' in body.text and "backtest MAE" in body.text
    assert "Simulated series" in body.text

    roi = client.get(f"{BASE}/roi")
    assert roi.status_code == 200
    for chart in ("roi-distribution", "tornado", "frontier"):
        assert f'data-chart="{chart}"' in roi.text
    assert 'data-series="efficient frontier"' in roi.text and "chance of a loss" in roi.text
    refused = client.get(f"{BASE}/roi?cost=-5")
    assert refused.status_code == 422
    sure_loss = client.get(f"{BASE}/roi?rate=0.01&rate_sd=0.2")
    assert sure_loss.status_code == 422 and "Cannot simulate this plan" in sure_loss.text

    _sign_in(client, bravo)
    assert "Greeting-Test" not in client.get(f"{BASE}/experiments").text
    assert client.get(f"{BASE}/experiments/{exp_id}").status_code == 404
    assert "Send-Time" not in client.get(f"{BASE}/bandits").text
