"""Redis cache: shared by every process and host; keys live under a prefix."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ssmas.core.cache.port import CacheError, check_ttl

if TYPE_CHECKING:
    import redis

DEFAULT_PREFIX = "ssmas:cache:"


@contextlib.contextmanager
def _translate_errors() -> Iterator[None]:
    import redis

    try:
        yield
    except redis.ResponseError as exc:
        if "not an integer" in str(exc):
            raise ValueError(str(exc)) from exc
        raise CacheError(f"redis refused the command: {exc}") from exc
    except redis.RedisError as exc:
        raise CacheError(f"redis unavailable: {exc}") from exc


def _ms(ttl_s: float) -> int:
    return max(1, math.ceil(ttl_s * 1000))


class RedisCache:
    """The scale-out ``Cache`` over redis-py; takes a ``redis://`` URL or a ready client.

    Construction does not connect; the first command does.
    """

    def __init__(self, url_or_client: str | redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        import redis as redis_lib

        if isinstance(url_or_client, str):
            self._client: redis.Redis = redis_lib.Redis.from_url(
                url_or_client, socket_timeout=5, socket_connect_timeout=5
            )
            self._owns_client = True
        else:
            self._client = url_or_client
            self._owns_client = False
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return self.prefix + key

    def get(self, key: str) -> bytes | None:
        with _translate_errors():
            value = self._client.get(self._key(key))
        return None if value is None else bytes(value)

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        check_ttl(ttl_s)
        with _translate_errors():
            self._client.set(self._key(key), value, px=None if ttl_s is None else _ms(ttl_s))

    def delete(self, key: str) -> bool:
        with _translate_errors():
            return bool(self._client.delete(self._key(key)))

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        check_ttl(ttl_s)
        full = self._key(key)
        with _translate_errors():
            if ttl_s is None:
                return int(self._client.incrby(full, amount))
            # One MULTI: create the key with its TTL only if missing, then add.
            pipe = self._client.pipeline(transaction=True)
            pipe.set(full, 0, px=_ms(ttl_s), nx=True)
            pipe.incrby(full, amount)
            _created, value = pipe.execute()
            return int(value)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()
