"""Per-key rate limits set by the key's tier, on the in-process and the Redis buckets: a tiered
key is refused with 429 and Retry-After past its tier's burst while a key without a tier keeps
the default (which serves seed 003's 10k predictions/s)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ssmas.bootstrap import create_app
from ssmas.cli import app as cli
from ssmas.core.platform import build_platform
from ssmas.core.ratelimit import MemoryRateLimiter, RedisRateLimiter
from ssmas.core.security.keys import create_api_key
from ssmas.settings import Settings, use_settings

TIERS = {"tiny": (0.01, 2), "wide": (1000.0, 50)}


def test_default_limit_serves_ten_thousand_predictions_a_second() -> None:
    settings = Settings()
    rate, burst = settings.rate_limit_of(None)
    assert rate >= 10_000 and burst >= rate
    assert settings.rate_limit_of("unknown") == (rate, burst)
    assert settings.rate_limit_of("basic") == (200.0, 400)
    with pytest.raises(ValueError, match="rate_limit_tiers"):
        Settings(rate_limit_tiers={"broken": (0.0, 5)})


def _limits_by_call(limiter: Any) -> None:
    async def scenario() -> None:
        key = f"tier-{uuid.uuid4().hex}"
        first = [(await limiter.hit(key, rate=0.01, burst=2)).allowed for _ in range(3)]
        assert first == [True, True, False]
        refused = await limiter.hit(key, rate=0.01, burst=2)
        assert refused.retry_after_s > 50 and int(refused.retry_after_header) > 50
        # The limiter's own (default) size for another key: its burst of 5.
        other = f"default-{uuid.uuid4().hex}"
        assert [(await limiter.hit(other)).allowed for _ in range(6)] == [True] * 5 + [False]
        with pytest.raises(ValueError, match="rate"):
            await limiter.hit(key, rate=0.0, burst=2)
        with pytest.raises(ValueError, match="cost"):
            await limiter.hit(key, cost=3, rate=1.0, burst=2)
        await limiter.close()

    asyncio.run(scenario())


def test_memory_buckets_take_the_size_of_each_call() -> None:
    _limits_by_call(MemoryRateLimiter(rate=0.01, burst=5))


@pytest.mark.redis
def test_redis_buckets_take_the_size_of_each_call(redis_url: str) -> None:
    _limits_by_call(RedisRateLimiter(redis_url, rate=0.01, burst=5))


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_tiered_key_gets_429_with_retry_after(
    settings: Settings, backend: str, request: pytest.FixtureRequest
) -> None:
    update: dict[str, Any] = {"rate_limit_tiers": TIERS, "rate_limit_backend": backend}
    if backend == "redis":
        update["redis_url"] = request.getfixturevalue("redis_url")
    platform = build_platform(settings.model_copy(update=update))
    try:
        with platform.uow() as uow:
            tiny, record = create_api_key(uow.session, "tiny", ["*"], tier="tiny")
            plain, _ = create_api_key(uow.session, "plain", ["*"])
            uow.commit()
        assert record.tier == "tiny"
        with TestClient(create_app(platform)) as client:
            codes = [client.get("/v1/ping", headers={"X-API-Key": tiny}) for _ in range(3)]
            plain_codes = [
                client.get("/v1/ping", headers={"X-API-Key": plain}).status_code for _ in range(5)
            ]
    finally:
        platform.close()
    assert [c.status_code for c in codes] == [200, 200, 429]
    refused = codes[2]
    assert refused.json()["error"] == "rate_limited"
    assert "0.01/s (burst 2)" in refused.json()["message"]
    assert int(refused.headers["retry-after"]) >= 1
    assert plain_codes == [200] * 5  # no tier: the default limit


def test_keys_create_takes_a_known_tier_only(settings: Settings) -> None:
    tiered = settings.model_copy(update={"rate_limit_tiers": TIERS})
    with use_settings(tiered):
        bad = CliRunner().invoke(cli, ["keys", "create", "k", "-s", "admin", "--tier", "gold"])
        assert bad.exit_code == 2
        assert "unknown --tier 'gold'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        good = CliRunner().invoke(cli, ["keys", "create", "k", "-s", "admin", "--tier", "wide"])
        assert good.exit_code == 0, good.stderr
        assert "(tier wide)" in good.stderr
