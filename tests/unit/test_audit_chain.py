"""The audit chain's hash: every field counts, and no field's text can move a boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ssmas.core.security.audit import GENESIS_HASH, chain_hash

AT = datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=UTC)


def test_each_field_changes_the_hash_and_boundaries_cannot_shift() -> None:
    base = chain_hash(GENESIS_HASH, AT, "cli", "api_key.created", "abc", {"n": 1})
    assert len(base) == 64
    assert base == chain_hash(GENESIS_HASH, AT, "cli", "api_key.created", "abc", {"n": 1})
    changed = [
        chain_hash("1" * 64, AT, "cli", "api_key.created", "abc", {"n": 1}),
        chain_hash(
            GENESIS_HASH, AT + timedelta(microseconds=1), "cli", "api_key.created", "abc", {"n": 1}
        ),
        chain_hash(GENESIS_HASH, AT, "cl", "api_key.created", "abc", {"n": 1}),
        chain_hash(GENESIS_HASH, AT, "cli", "api_key.revoked", "abc", {"n": 1}),
        chain_hash(GENESIS_HASH, AT, "cli", "api_key.created", "abd", {"n": 1}),
        chain_hash(GENESIS_HASH, AT, "cli", "api_key.created", "abc", {"n": 2}),
    ]
    assert base not in changed and len(set(changed)) == len(changed)
    shifted_a = chain_hash(GENESIS_HASH, AT, "a\nb", "c", "t", {})
    shifted_b = chain_hash(GENESIS_HASH, AT, "a", "b\nc", "t", {})
    assert shifted_a != shifted_b


def test_the_same_moment_in_another_zone_hashes_the_same() -> None:
    other = AT.astimezone(datetime.now().astimezone().tzinfo)
    assert chain_hash(GENESIS_HASH, other, "x", "y", "z", {}) == chain_hash(
        GENESIS_HASH, AT, "x", "y", "z", {}
    )
