"""Dashboard session tokens: round trip, expiry, and refusal of anything not signed by us."""

from __future__ import annotations

import pytest

from ssmas.web.session import SessionClaims, issue_token, read_token

SECRET = "token-test-secret"


def test_token_round_trip_names_the_prefix_and_expiry() -> None:
    token = issue_token(SECRET, "ab12cd34", ttl_s=60, clock=lambda: 1_000.0)
    assert read_token(SECRET, token, clock=lambda: 1_059.0) == SessionClaims("ab12cd34", 1_060)
    assert read_token(SECRET, token, clock=lambda: 1_060.0) is None


def test_any_change_to_the_token_breaks_it() -> None:
    token = issue_token(SECRET, "ab12cd34", clock=lambda: 0.0)
    version, prefix, expiry, signature = token.split(".")
    forged_expiry = f"{version}.{prefix}.{int(expiry) + 3600}.{signature}"
    forged_prefix = (
        f"{version}.{issue_token(SECRET, 'zz99yy88').split('.')[1]}.{expiry}.{signature}"
    )
    for candidate in [forged_expiry, forged_prefix, token.upper(), token + "0", token[:-2]]:
        assert read_token(SECRET, candidate, clock=lambda: 1.0) is None
    assert read_token("other-secret", token, clock=lambda: 1.0) is None


@pytest.mark.parametrize(
    "junk", ["", "v1", "v1...", "v2.YWI.99999999999.00", "v1.!!!.1.2", "é.è.à.ü", "x" * 5000]
)
def test_malformed_tokens_read_as_no_session(junk: str) -> None:
    assert read_token(SECRET, junk) is None
    assert read_token(SECRET, None) is None


def test_issuing_needs_a_prefix_and_a_positive_lifetime() -> None:
    with pytest.raises(ValueError):
        issue_token(SECRET, "")
    with pytest.raises(ValueError):
        issue_token(SECRET, "ab12cd34", ttl_s=0)
