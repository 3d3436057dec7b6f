"""Cache port and adapters: ``MemoryCache`` (embedded) and ``RedisCache`` (scale-out).

``open_cache(settings)`` picks one from ``settings.cache_backend``.
"""

from __future__ import annotations

from ssmas.core.cache.memory_cache import MemoryCache
from ssmas.core.cache.port import Cache, CacheError, get_json, set_json
from ssmas.core.cache.redis_cache import RedisCache
from ssmas.settings import Settings


class CacheConfigError(ValueError):
    """The settings ask for a cache backend they do not configure."""


def open_cache(settings: Settings) -> Cache:
    """The cache named by ``settings.cache_backend``; Redis needs ``settings.redis_url``."""
    if settings.cache_backend == "redis":
        if not settings.redis_url:
            raise CacheConfigError(
                "SSMAS_CACHE_BACKEND=redis needs SSMAS_REDIS_URL (e.g. redis://127.0.0.1:6379/0)"
            )
        return RedisCache(settings.redis_url)
    return MemoryCache()


__all__ = [
    "Cache",
    "CacheConfigError",
    "CacheError",
    "MemoryCache",
    "RedisCache",
    "get_json",
    "open_cache",
    "set_json",
]
