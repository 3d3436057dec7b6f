"""API key format, scope grammar and scope checks (pure logic, no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ssmas.core.security import (
    ApiKeyRecord,
    InvalidScopeError,
    has_scope,
    parse_api_key,
    scopes_grant,
    validate_scopes,
)


def record(*scopes: str, revoked: bool = False) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=1,
        name="t",
        prefix="abcd1234",
        scopes=list(scopes),
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        revoked=revoked,
    )


@pytest.mark.parametrize("scope", ["pricing:read", "assistant:write", "adops:incidents", "x"])
def test_star_and_admin_grant_everything(scope: str) -> None:
    assert has_scope(record("*"), scope)
    assert has_scope(record("admin"), scope)


def test_exact_scope_is_granted_and_others_are_not() -> None:
    key = record("pricing:read")
    assert has_scope(key, "pricing:read")
    assert not has_scope(key, "pricing:write")
    assert not has_scope(key, "assistant:read")
    assert not has_scope(key, "admin")
    assert not has_scope(key, "pricing")


def test_resource_wildcard_grants_its_actions_only() -> None:
    for key in (record("pricing:*"), record("pricing")):
        assert has_scope(key, "pricing:read")
        assert has_scope(key, "pricing:write")
        assert not has_scope(key, "pricingx:read")
        assert not has_scope(key, "campaigns:read")


def test_admin_action_implies_read_and_write_on_its_resource_only() -> None:
    key = record("pricing:admin")
    assert has_scope(key, "pricing:read") and has_scope(key, "pricing:write")
    assert has_scope(key, "pricing:admin")
    assert not has_scope(key, "pricing:delete")
    assert not has_scope(key, "assistant:read") and not has_scope(key, "admin")
    assert not has_scope(record("pricing:write"), "pricing:read")  # write does not imply read
    assert scopes_grant(["assistant:admin"], "assistant:write")
    assert not scopes_grant(["assistant:admin"], "pricing:read")


def test_revoked_record_grants_nothing() -> None:
    assert not has_scope(record("*", revoked=True), "pricing:read")


def test_validate_scopes_strips_and_deduplicates_in_order() -> None:
    assert validate_scopes([" admin", "pricing:read", "admin", "pricing:*", "*"]) == [
        "admin",
        "pricing:read",
        "pricing:*",
        "*",
    ]


@pytest.mark.parametrize("bad", ["", "Admin", "pricing:", ":read", "a:b:c", "pri cing", "*:read"])
def test_validate_scopes_rejects_malformed(bad: str) -> None:
    with pytest.raises(InvalidScopeError, match="invalid scope"):
        validate_scopes([bad])


def test_parse_api_key_splits_prefix_and_secret() -> None:
    secret = "A_b-" + "x" * 39
    assert parse_api_key(f"ssmas_abcd1234_{secret}") == ("abcd1234", secret)
    assert parse_api_key(f"  ssmas_abcd1234_{secret}\n") == ("abcd1234", secret)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ssmas_abcd1234_short",
        "ssmas_ABCD1234_" + "x" * 43,
        "ssmas_abc_" + "x" * 43,
        "other_abcd1234_" + "x" * 43,
        "ssmas_abcd1234_" + "x" * 42 + "!",
        "Bearer ssmas_abcd1234_" + "x" * 43,
    ],
)
def test_parse_api_key_rejects_malformed(raw: str) -> None:
    assert parse_api_key(raw) is None
