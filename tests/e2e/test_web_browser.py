"""The dashboard in a real browser: Debian's Chromium through Playwright, against the real server.

One uvicorn process (embedded SQLite, SQLite bus, memory cache in a temporary data directory)
serves the whole module; its API key is created beforehand with ``ssmas.core.security``. Each
test gets a fresh browser context, so cookies never leak between tests.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ssmas.core.health import stop_processes

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PRODUCT_GROUPS = ["Pricing", "AdOps", "Assistant", "Campaigns", "Ops"]
# Set SSMAS_WEB_SCREENSHOT=docs/img/dashboard.png to refresh the documentation picture.
SCREENSHOT_ENV = "SSMAS_WEB_SCREENSHOT"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed at /usr/bin/chromium (run `make system-deps`)",
    ),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, expect, sync_playwright


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _create_key(data_dir: Path) -> str:
    """Create an admin key in the data directory's database (migrated already: a no-op here)."""
    from ssmas.core.platform import build_platform
    from ssmas.core.security.keys import create_api_key
    from ssmas.settings import Settings

    platform = build_platform(Settings(profile="test", data_dir=data_dir))
    try:
        with platform.uow() as uow:
            raw, _record = create_api_key(uow.session, "browser-tests", ["admin"])
            uow.commit()
    finally:
        platform.close()
    return raw


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``(base URL, raw API key)`` of a running server."""
    data_dir = tmp_path_factory.mktemp("web-e2e")
    # Embedded defaults only: no inherited SSMAS_* variable, and a cwd without any .env file.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSMAS_")}
    env |= {
        "SSMAS_DATA_DIR": str(data_dir),
        "SSMAS_PROFILE": "test",
        "SSMAS_SECRET_KEY": "browser-test-secret",
        "SSMAS_LOG_LEVEL": "WARNING",
    }
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "ssmas.server:create_app_from_env", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(command, env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("server did not start:\n" + (data_dir / "server.log").read_text())
            time.sleep(0.1)
        # The server migrated the database on start-up; the key goes in after that.
        raw_key = _create_key(data_dir)
        yield base, raw_key
    finally:
        stop_processes([process])
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(8_000)
    yield context.new_page()
    context.close()


def sign_in(page: Page, base: str, key: str) -> None:
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login")
    page.fill("#api_key", key)
    page.click("#sign-in")


def test_a_wrong_key_shows_the_error(page: Page, server: tuple[str, str]) -> None:
    base, _key = server
    sign_in(page, base, "ssmas_wrongkey_" + "x" * 43)
    expect(page.locator("#login-error")).to_contain_text("That API key is not valid")
    expect(page.locator("#api_key")).to_be_visible()
    assert page.context.cookies() == []


def test_the_right_key_lands_on_the_dashboard_with_live_health(
    page: Page, server: tuple[str, str]
) -> None:
    base, key = server
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    sign_in(page, base, key)
    expect(page).to_have_url(f"{base}/dashboard")
    expect(page.locator("h1")).to_have_text("Platform")
    for check in ("db", "bus", "cache"):
        expect(page.locator(f'[data-check="{check}"] .badge')).to_have_text("ok")
    expect(page.locator("#health-status")).to_have_attribute("data-ready", "true")
    expect(page.locator("#settings")).to_contain_text("0.1.0")
    # the chart library draws once the feed has its first interval
    expect(page.locator("#traffic-chart canvas")).to_have_count(1)
    expect(page.locator("#traffic-chart .u-legend")).to_contain_text("requests/s")
    # HTMX replaces the readiness panel on its own 5 s timer
    stamp = page.locator("#health-status .stamp").inner_text()
    with page.expect_response(f"{base}/dashboard/health", timeout=8_000) as refresh:
        pass
    assert refresh.value.status == 200
    expect(page.locator("#health-status .stamp")).not_to_have_text(stamp)
    expect(page.locator('[data-check="db"] .badge')).to_have_text("ok")
    assert "browser-test-secret" not in page.content()
    assert problems == []
    target = os.environ.get(SCREENSHOT_ENV)
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=target, full_page=True)


def test_navigation_reaches_every_product_group(page: Page, server: tuple[str, str]) -> None:
    base, key = server
    sign_in(page, base, key)
    expect(page).to_have_url(f"{base}/dashboard")
    for label in PRODUCT_GROUPS:
        # the group's own link (a group may hold a page of the same name: Campaigns)
        group = page.get_by_role("navigation").locator(f'a[data-group="{label.lower()}"]')
        expect(group).to_have_text(label)
        group.click()
        expect(page).to_have_url(f"{base}/dashboard/{label.lower()}")
        expect(page.locator("h1")).to_have_text(label)
        # A product that registered pages lists them; the others say they are not deployed.
        state = page.locator("#group-pages, #not-deployed")
        expect(state).to_have_count(1)
        if page.locator("#not-deployed").count():
            expect(state).to_contain_text(f"{label} is not deployed yet")
        else:
            expect(state.locator("a").first).to_have_attribute(
                "href", re.compile(rf"^/dashboard/{label.lower()}/")
            )
        expect(page.locator('.nav a[aria-current="page"]')).to_have_text(label)
    page.get_by_role("link", name="Platform", exact=True).click()
    expect(page).to_have_url(f"{base}/dashboard")


def test_logout_returns_to_login(page: Page, server: tuple[str, str]) -> None:
    base, key = server
    sign_in(page, base, key)
    expect(page).to_have_url(f"{base}/dashboard")
    page.click("#logout")
    expect(page).to_have_url(f"{base}/login?signed_out=1")
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    page.goto(f"{base}/dashboard")
    expect(page).to_have_url(f"{base}/login")


def test_the_layout_fits_a_phone(browser: Browser, server: tuple[str, str]) -> None:
    base, key = server
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = context.new_page()
        sign_in(phone, base, key)
        expect(phone).to_have_url(f"{base}/dashboard")
        expect(phone.locator('[data-check="db"]')).to_be_visible()
        expect(phone.get_by_role("link", name="Campaigns", exact=True)).to_be_attached()
        overflow = phone.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
    finally:
        context.close()


def test_a_lost_session_sends_the_refreshing_page_to_login(
    page: Page, server: tuple[str, str]
) -> None:
    base, key = server
    sign_in(page, base, key)
    expect(page.locator("#health-status")).to_be_visible()
    page.context.clear_cookies()
    # The health panel refreshes itself every 5 s through htmx; its first request without the
    # session must send the whole page to the login form (HX-Redirect), with no help from us.
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/login"), timeout=30_000)


def test_the_api_docs_render_from_this_server_alone(page: Page, server: tuple[str, str]) -> None:
    base, _key = server
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) else elsewhere.append(r.url))
    page.goto(f"{base}/docs")
    # Swagger UI drew the schema: the title and the operations of the platform's own routes.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("SSMAS AI platform")
    expect(page.locator('.swagger-ui .opblock[id*="health"]').first).to_be_visible()
    expect(page.locator(".swagger-ui .authorize")).to_be_visible()
    assert elsewhere == []


def test_chart_numbers_are_written_for_people(page: Page, server: tuple[str, str]) -> None:
    base, key = server
    sign_in(page, base, key)
    expect(page.locator("#traffic-chart canvas")).to_have_count(1)
    formatted = page.evaluate(
        "[160322.4, 0.803412, 1603000, null].map(window.ssmasCharts.formatNumber)"
    )
    assert formatted == ["160,322", "0.8034", "1,603,000", "—"]
    # the chart's time axis asks uPlot for at least 80 px a label, so labels cannot overlap
    assert page.evaluate("window.ssmasCharts.timeAxis().space") >= 80


def test_the_drift_chart_draws_a_feed_with_a_gap(page: Page, server: tuple[str, str]) -> None:
    base, key = server
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    # The shape drift_feed serves: a null row where the monitor did not run.
    feed = {
        "t": [1767225600, 1767225900, 1767226200, 1767226500, 1767233700, 1767236400],
        "score": [0.1, 0.2, 0.15, None, 0.4, 0.35],
        "levels": ["OK", "OK", "OK", None, "INFO", "INFO"],
        "features": {"format": [0.2, 0.1, 0.3, None, 0.5, 160322.4]},
    }
    page.route(
        f"{base}/dashboard/pricing/drift.json",
        lambda route: route.fulfill(json=feed),
    )
    sign_in(page, base, key)
    expect(page).to_have_url(f"{base}/dashboard")
    page.goto(f"{base}/dashboard/pricing/drift")
    expect(page.locator("#drift-chart canvas")).to_have_count(1)
    expect(page.locator("#drift-chart")).to_have_attribute("data-points", "6")
    expect(page.locator("#drift-chart .u-legend")).to_contain_text("format")
    assert problems == []
