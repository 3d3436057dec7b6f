"""Failed authentication is limited per client address (issue 12, item 6): past the burst, the
address gets 429 with Retry-After before any key is checked, on the API and the dashboard login
alike, while other addresses are not affected."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app
from ssmas.core.platform import Platform, build_platform
from ssmas.core.security.keys import create_api_key
from ssmas.settings import Settings

BURST = 20


@pytest.fixture()
def platform(settings: Settings) -> Iterator[Platform]:
    built = build_platform(
        settings.model_copy(update={"auth_failure_burst": BURST, "auth_failure_rate_per_s": 0.01})
    )
    yield built
    built.close()


def _guess() -> dict[str, str]:
    return {"X-API-Key": f"ssmas_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"}


def test_random_keys_from_one_address_get_429_after_the_burst(platform: Platform) -> None:
    with platform.uow() as uow:
        raw, _ = create_api_key(uow.session, "real", ["*"])
        uow.commit()
    with TestClient(create_app(platform), client=("203.0.113.7", 50000)) as attacker:
        statuses = [attacker.get("/v1/ping", headers=_guess()).status_code for _ in range(40)]
        assert statuses[:BURST] == [401] * BURST
        assert set(statuses[BURST:]) == {429}
        refused = attacker.get("/v1/ping", headers=_guess())
        assert refused.json()["error"] == "too_many_failed_authentications"
        assert int(refused.headers["retry-after"]) >= 1
        # Even a right guess now learns nothing: the address is refused before the key check.
        right = attacker.get("/v1/ping", headers={"X-API-Key": raw})
        assert right.status_code == 429
        # The dashboard login form is the same door.
        form = attacker.post("/login", data={"api_key": raw}, follow_redirects=False)
        assert form.status_code == 429 and "retry-after" in form.headers
        # A missing key is not a guess: it stays a plain 401.
        assert attacker.get("/v1/ping").status_code == 401
    with TestClient(create_app(platform), client=("198.51.100.9", 50000)) as other:
        assert other.get("/v1/ping", headers={"X-API-Key": raw}).status_code == 200


def test_login_form_guesses_count_too(platform: Platform) -> None:
    with TestClient(create_app(platform), client=("203.0.113.8", 50000)) as attacker:
        statuses = [
            attacker.post("/login", data={"api_key": _guess()["X-API-Key"]}).status_code
            for _ in range(BURST + 5)
        ]
    assert statuses[:BURST] == [401] * BURST
    assert set(statuses[BURST:]) == {429}
